"""panva's openid-client (Node, OpenID-certified RP library, current major) against a live
server: discovery, client credentials with a secret and with private_key_jwt, code + PKCE
through a real sign-in and consent, ID token validation (signature included:
``enableNonRepudiationChecks``), userinfo, refresh, introspection, revocation and
RP-initiated logout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from joserfc.jwk import ECKey

from beep_iam.services.oauth_clients import register_client
from tests.factories import UserFactory
from tests.npm import npm_ci
from tests.oauth2.test_independent_client import PASSWORD, _form_post, server  # noqa: F401
from tests.oauth2.test_oauth4webapi import rp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]

RP = Path(__file__).resolve().parents[2] / "interop" / "openid-client"


@pytest.fixture(scope="session")
def openid_client() -> Path:
    npm_ci(RP)
    return RP


def _machine(**extra):
    return register_client(
        redirect_uris=[],
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
        **extra,
    )


def test_client_credentials(server, openid_client):  # noqa: F811
    registered = _machine()
    result = rp(
        openid_client,
        command="client_credentials",
        issuer=server.url,
        client_id=registered.client.client_id,
        client_secret=registered.client_secret,
        scope="invoices:read",
    )
    assert result["scope"] == "invoices:read"
    assert result["token_type"] == "bearer"  # normalised by the library
    assert result["before"] == {
        "active": True,
        "client_id": registered.client.client_id,
        "scope": "invoices:read",
    }
    assert result["after"] == {"active": False}


def test_private_key_jwt(server, openid_client):  # noqa: F811
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-1"})
    registered = _machine(
        token_endpoint_auth_method="private_key_jwt",
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    result = rp(
        openid_client,
        command="client_credentials",
        issuer=server.url,
        client_id=registered.client.client_id,
        private_jwk=key.as_dict(private=True),
        scope="invoices:read",
    )
    assert result["before"]["active"] is True
    assert result["before"]["client_id"] == registered.client.client_id
    assert result["after"] == {"active": False}


def test_code_flow_and_end_session(server, openid_client):  # noqa: F811
    redirect_uri = "http://127.0.0.1:9/callback"
    signed_out = "http://127.0.0.1:9/signed-out"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="openid-client",
        grant_types=["authorization_code", "refresh_token"],
        enable_end_session=True,
        post_logout_redirect_uris=[signed_out],
    )
    user = UserFactory(email="dora@example.com", name="Dora", password=PASSWORD)
    common = {
        "issuer": server.url,
        "client_id": registered.client.client_id,
        "client_secret": registered.client_secret,
        "redirect_uri": redirect_uri,
    }
    started = rp(openid_client, command="start", scope="openid profile offline_access", **common)

    browser = requests.Session()
    response = browser.get(started["url"], allow_redirects=False)
    assert response.status_code == 302  # to the sign-in page
    login_url = server.url + response.headers["Location"]
    page = browser.get(login_url)
    response = _form_post(browser, login_url, page, username=user.email, password=PASSWORD)
    assert response.status_code == 302, response.text[:500]
    consent_url = server.url + response.headers["Location"]
    page = browser.get(consent_url, allow_redirects=False)
    assert page.status_code == 200 and "openid-client" in page.text
    response = _form_post(browser, consent_url, page, decision="allow")
    callback = response.headers["Location"]
    assert callback.startswith(redirect_uri)

    result = rp(
        openid_client,
        command="finish",
        callback=callback,
        state=started["state"],
        nonce=started["nonce"],
        code_verifier=started["code_verifier"],
        post_logout_redirect_uri=signed_out,
        **common,
    )
    assert "error" not in result, result
    assert result["sub"] == user.pk
    assert result["iss"] == server.url
    assert result["aud"] == registered.client.client_id
    assert result["nonce"] == started["nonce"]
    assert result["userinfo"] == {"sub": user.pk, "name": "Dora"}
    assert result["refreshed"] is True
    assert result["refreshed_sub"] == user.pk  # the refresh's ID token, signature checked too
    assert result["active"] is True and result["active_sub"] == user.pk
    assert result["after_revocation"] is False

    # RP-initiated logout in the browser that signed in: back to the registered URI, signed out.
    response = browser.get(result["end_session_url"], allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"] == signed_out + "?state=signed-out"
    response = browser.get(started["url"], allow_redirects=False)
    assert response.headers["Location"].startswith("/")  # to the sign-in page again
    assert "login" in response.headers["Location"]
