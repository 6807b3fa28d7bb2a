"""panva's oauth4webapi (Node, OpenID-certified RP library) against a live server: discovery,
client credentials, code + PKCE with a real sign-in and consent, ID token validation (its
claims by oauth4webapi, its signature here against the JWKS), userinfo, refresh,
introspection, revocation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import override_settings
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.services.oauth_clients import register_client
from beep_shared.crypto import digest
from tests.factories import UserFactory
from tests.npm import node_json, npm_ci
from tests.oauth2.test_independent_client import (  # noqa: F401
    PASSWORD,
    server,
    sign_in_and_consent,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]

RP = Path(__file__).resolve().parents[2] / "interop" / "oauth4webapi"


@pytest.fixture(scope="session")
def oauth4webapi() -> Path:
    npm_ci(RP)
    return RP


def rp(directory: Path, **command: Any) -> dict[str, Any]:
    return node_json(directory, "rp.mjs", **command)


def test_client_credentials(server, oauth4webapi):  # noqa: F811
    registered = register_client(
        redirect_uris=[],
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    result = rp(
        oauth4webapi,
        command="client_credentials",
        issuer=server.url,
        client_id=registered.client.client_id,
        client_secret=registered.client_secret,
        scope="invoices:read",
    )
    assert result["scope"] == "invoices:read"
    assert result["token_type"] == "bearer"  # oauth4webapi normalises the case
    assert result["before"]["active"] is True
    assert result["after"] == {"active": False}


def test_code_flow(server, oauth4webapi):  # noqa: F811
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="oauth4webapi",
        grant_types=["authorization_code", "refresh_token"],
    )
    user = UserFactory(email="carol@example.com", name="Carol", password=PASSWORD)
    common = {
        "issuer": server.url,
        "client_id": registered.client.client_id,
        "redirect_uri": redirect_uri,
    }
    started = rp(oauth4webapi, command="start", scope="openid email offline_access", **common)

    callback = sign_in_and_consent(server, started["url"], user.email)

    result = rp(
        oauth4webapi,
        command="finish",
        client_secret=registered.client_secret,
        callback=callback,
        state=started["state"],
        nonce=started["nonce"],
        code_verifier=started["code_verifier"],
        **common,
    )
    keys = KeySet.import_key_set(requests.get(server.url + "/jwks", timeout=10).json())
    signed = jwt.decode(result["id_token"], keys, algorithms=["EdDSA"])
    assert signed.claims["sub"] == result["sub"] == user.pk
    assert result["iss"] == server.url
    assert result["nonce"] == started["nonce"]
    assert result["userinfo"] == {
        "sub": user.pk,
        "email": "carol@example.com",
        "email_verified": False,
    }
    assert result["refreshed"] is True
    assert result["active"] is True
    assert result["after_revocation"] is False


def _register(directory: Path, **command: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "register.mjs", json.dumps(command)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dynamic_registration_then_the_code_flow(server, oauth4webapi):  # noqa: F811
    """oauth4webapi registers itself (RFC 7591, with an initial access token), then runs the
    code flow above with the client it got."""
    redirect_uri = "http://127.0.0.1:9/callback"
    metadata = {
        "redirect_uris": [redirect_uri],
        "client_name": "oauth4webapi (registered)",
        "grant_types": ["authorization_code", "refresh_token"],
        "id_token_signed_response_alg": "EdDSA",  # kept in its metadata, chooses its ID tokens
    }
    beep = {
        **settings.BEEP_IAM,
        "OAUTH2_REGISTRATION": "initial_access_token",
        "OAUTH2_INITIAL_ACCESS_TOKENS": [digest("iat-for-oauth4webapi-0123456789")],
    }
    with override_settings(BEEP_IAM=beep):
        refused = _register(
            oauth4webapi, issuer=server.url, metadata=metadata, initial_access_token="wrong"
        )
        assert refused.returncode == 1
        assert "invalid_token" in refused.stdout or "401" in refused.stdout, refused.stdout
        done = _register(
            oauth4webapi,
            issuer=server.url,
            metadata=metadata,
            initial_access_token="iat-for-oauth4webapi-0123456789",
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
    registered = json.loads(done.stdout)
    assert registered["registration_endpoint"] == server.url + "/oauth2/register"
    client = registered["client"]
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert client["registration_client_uri"].endswith("/oauth2/register/" + client["client_id"])

    user = UserFactory(email="dora@example.com", name="Dora", password=PASSWORD)
    common = {"issuer": server.url, "client_id": client["client_id"], "redirect_uri": redirect_uri}
    started = rp(oauth4webapi, command="start", scope="openid email offline_access", **common)
    callback = sign_in_and_consent(server, started["url"], user.email)
    result = rp(
        oauth4webapi,
        command="finish",
        client_secret=client["client_secret"],
        callback=callback,
        state=started["state"],
        nonce=started["nonce"],
        code_verifier=started["code_verifier"],
        **common,
    )
    assert result["sub"] == user.pk
    assert result["refreshed"] is True
    read = requests.get(
        client["registration_client_uri"],
        headers={"Authorization": f"Bearer {client['registration_access_token']}"},
        timeout=10,
    )
    assert read.status_code == 200 and read.json()["client_name"] == "oauth4webapi (registered)"
