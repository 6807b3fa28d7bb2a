"""Shared helpers of the RFC conformance probes."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from tests.oauth2.conftest import REDIRECT_URI, basic

FORM = "application/x-www-form-urlencoded"


def form(http: Client, path: str, body: dict[str, str] | str, **headers: Any) -> Any:
    data = body if isinstance(body, str) else urlencode(body)
    return http.post(path, data, content_type=FORM, **headers)


def jwt_claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def challenge_params(header: str) -> tuple[str, dict[str, str]]:
    """The scheme and auth-params of one WWW-Authenticate challenge (quoted-string values)."""
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    for part in rest.split('", '):
        if "=" in part:
            key, _, value = part.partition("=")
            params[key.strip()] = value.strip().strip('"')
    return scheme, params


def assert_json_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].split(";")[0] == "application/json", response["Content-Type"]
    body = response.json()
    assert body["error"] == error, body
    return body


def redeem(
    registered: Any, code: str, verifier: str, redirect_uri: str = REDIRECT_URI, **headers: Any
) -> Any:
    """The token request of an authorization code, the client authenticated by Basic."""
    return form(
        Client(),
        "/oauth2/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        **headers,
    )
