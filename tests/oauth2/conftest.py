"""Fixtures of the OAuth endpoint tests: an issuer, clients registered through the services."""

from __future__ import annotations

import base64
import hashlib
import secrets as std_secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings

from beep_iam.services.oauth_clients import RegisteredClient, register_client
from tests.factories import UserFactory

ISSUER = "https://testserver"
REDIRECT_URI = "https://client.example.com/callback"


def with_issuer(issuer: str) -> Any:
    return override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "OAUTH2_ISSUER": issuer}
    )


@pytest.fixture(autouse=True)
def _issuer() -> Iterator[None]:
    with with_issuer(ISSUER):
        yield


@pytest.fixture
def machine() -> RegisteredClient:
    """A confidential client for client_credentials, allowed ``invoices:read`` / ``:write``."""
    return register_client(
        redirect_uris=[],
        name="Billing robot",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read", "invoices:write"],
    )


@pytest.fixture
def web() -> RegisteredClient:
    """A confidential web client (authorization_code + refresh_token, Basic auth)."""
    return register_client(
        redirect_uris=[REDIRECT_URI],
        name="Web app",
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "offline_access"],
    )


@pytest.fixture
def spa() -> RegisteredClient:
    """A public client (auth method none, PKCE)."""
    return register_client(
        redirect_uris=["http://127.0.0.1/cb"],
        name="SPA",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )


#: Where a relying party returns after RP-initiated logout (its post_logout_redirect_uri).
AFTER_LOGOUT = "https://client.example.com/signed-out"


@pytest.fixture
def logout_client(web: RegisteredClient) -> RegisteredClient:
    """The web client, allowed to sign its users out (``enable_end_session``)."""
    web.client.enable_end_session = True
    web.client.post_logout_redirect_uris = [AFTER_LOGOUT]
    web.client.save()
    return web


@pytest.fixture
def user() -> Any:
    return UserFactory(name="Alice Example", email="alice@example.com", email_verified=True)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def pkce() -> tuple[str, str]:
    verifier = std_secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def authorize_url(client_id: str, challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email offline_access",
        "state": "st-123",
        "nonce": "n-456",
        **extra,
    }
    if challenge is not None:
        params.setdefault("code_challenge", challenge)
        params.setdefault("code_challenge_method", "S256")
    return "/oauth2/authorize?" + urlencode(params)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(http: Client, client_id: str, challenge: str | None, **extra: str) -> str:
    """Sign-in is done; consent given through the page; returns the code."""
    url = authorize_url(client_id, challenge, **extra)
    response = http.get(url)
    if response.status_code == 200:  # the consent page
        response = http.post(url, {"decision": "allow"})
    assert response.status_code == 302, response.content
    params = query_of(response["Location"])
    assert "code" in params, params
    return params["code"]
