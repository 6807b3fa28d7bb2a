"""Dynamic client registration across the two servers (better-auth 1.7 registers at the same
path): a client registered at either works at the other's authorization and token
endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.test import Client

from beep_iam.models import OAuthClient
from beep_iam.services import oauth_tokens
from beep_shared import crypto
from tests.oauth2.conftest import pkce, query_of

from . import oauth
from .node import BetterAuth
from .test_accounts import sign_up
from .test_oauth_endpoints import ISSUER, better_auth_17, co_tenancy, django_token  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

METADATA = {
    "client_name": "Registered App",
    "redirect_uris": [oauth.REDIRECT_URI],
    "token_endpoint_auth_method": "client_secret_post",
    "grant_types": ["authorization_code", "refresh_token"],
}


@pytest.fixture(autouse=True)
def open_registration(co_tenancy, settings) -> Iterator[None]:  # noqa: F811
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_REGISTRATION": "open",
        "OAUTH2_RATE_LIMITS": {"register": None},
    }
    yield


def test_registered_at_django_used_at_better_auth(better_auth_17: BetterAuth) -> None:  # noqa: F811
    response = Client().post(
        "/oauth2/register", json.dumps(METADATA), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    client = response.json()
    browser, user_body = sign_up(better_auth_17, email="reg1@example.com", name="Reg One")
    code, verifier = oauth.authorize(browser, client["client_id"])
    issued = oauth.exchange_code(better_auth_17, client, code, verifier)
    assert issued.status == 200, issued.body
    info = oauth_tokens.validate_access_token(issued.body["access_token"])
    assert info is not None and info.user_id == user_body["id"]
    refreshed = oauth.token(
        better_auth_17,
        client,
        grant_type="refresh_token",
        refresh_token=issued.body["refresh_token"],
    )
    assert refreshed.status == 200, refreshed.body


def test_registered_at_better_auth_used_at_django(better_auth_17: BetterAuth) -> None:  # noqa: F811
    response = better_auth_17.request("POST", "/api/auth/oauth2/register", json=METADATA)
    assert response.status == 201, response.body
    client = response.body
    row = OAuthClient.objects.get(client_id=client["client_id"])
    assert row.client_secret == crypto.digest(client["client_secret"])  # one secret form
    browser, user_body = sign_up(better_auth_17, email="reg2@example.com", name="Reg Two")
    http = Client()
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    verifier, challenge = pkce()
    url = "/oauth2/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": oauth.REDIRECT_URI,
            "scope": oauth.SCOPE,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    assert http.get(url).status_code == 200  # Django's consent page
    consented = http.post(url, {"decision": "allow"})
    assert consented.status_code == 302, consented.content
    code = query_of(consented["Location"])["code"]
    issued = django_token(
        http,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=oauth.REDIRECT_URI,
        code_verifier=verifier,
    )
    assert issued.status_code == 200, issued.content
    info = oauth_tokens.validate_access_token(issued.json()["access_token"])
    assert info is not None and info.user_id == user_body["id"]
    # better-auth keeps no registration access token: Django cannot manage its clients.
    managed = Client().get(
        f"/oauth2/register/{client['client_id']}", HTTP_AUTHORIZATION="Bearer anything"
    )
    assert managed.status_code == 401
