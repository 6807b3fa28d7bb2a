"""panva's oauth4webapi obtains resource-bound tokens (RFC 8707) from a live Django server,
and its resource-server function ``validateJwtAccessToken`` (RFC 9068: ``typ``, signature
against the discovered JWKS, ``iss``, ``aud``, ``exp``, ``sub``, ``client_id``, ``jti``) accepts
them for their resource and refuses them for another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from beep_iam.models import OAuthClientResource, OAuthResource
from beep_iam.oauth2 import access_jwt
from beep_iam.services.oauth_clients import register_client
from tests.factories import UserFactory
from tests.npm import node_json
from tests.oauth2.test_independent_client import (  # noqa: F401
    PASSWORD,
    server,
    sign_in_and_consent,
)
from tests.oauth2.test_oauth4webapi import oauth4webapi  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]

API = "https://api.example.com/invoices"
OTHER = "https://other.example.com/api"


def run(directory: Path, **command: Any) -> dict[str, Any]:
    return node_json(directory, "resource.mjs", **command)


def link(client_id: str, identifier: str) -> None:
    row, _ = OAuthResource.objects.get_or_create(identifier=identifier, defaults={"name": "x"})
    OAuthClientResource.objects.create(client_id=client_id, resource=row)


def test_client_credentials_jwt_validates_at_the_resource(server, oauth4webapi):  # noqa: F811
    registered = register_client(
        redirect_uris=[],
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    link(registered.client.client_id, API)
    link(registered.client.client_id, OTHER)
    result = run(
        oauth4webapi,
        command="client_credentials",
        issuer=server.url,
        client_id=registered.client.client_id,
        client_secret=registered.client_secret,
        scope="invoices:read",
        resource=API,
        other_resource=OTHER,
    )
    claims = result["at_resource"]["claims"]
    assert claims["aud"] == API and claims["iss"] == server.url
    assert claims["sub"] == claims["client_id"] == registered.client.client_id
    assert 'unexpected JWT "aud"' in result["at_other"]["error"], result["at_other"]
    assert access_jwt.validate(result["access_token"], API) is not None


def test_code_flow_jwt_validates_at_the_resource(server, oauth4webapi):  # noqa: F811
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="oauth4webapi",
        grant_types=["authorization_code", "refresh_token"],
    )
    link(registered.client.client_id, API)
    user = UserFactory(email="dora@example.com", name="Dora", password=PASSWORD)
    common = {
        "issuer": server.url,
        "client_id": registered.client.client_id,
        "redirect_uri": redirect_uri,
        "resource": API,
    }
    started = run(oauth4webapi, command="start", scope="openid offline_access", **common)
    callback = sign_in_and_consent(server, started["url"], user.email)
    result = run(
        oauth4webapi,
        command="finish",
        client_secret=registered.client_secret,
        callback=callback,
        state=started["state"],
        code_verifier=started["code_verifier"],
        other_resource=OTHER,
        **common,
    )
    claims = result["at_resource"]["claims"]
    assert claims["aud"] == [API, f"{server.url}/oauth2/userinfo"]
    assert claims["sub"] == user.pk and claims["scope"] == "openid offline_access"
    assert result["refreshed_at_resource"]["claims"]["aud"] == claims["aud"]
    assert "error" in result["at_other"], result["at_other"]
