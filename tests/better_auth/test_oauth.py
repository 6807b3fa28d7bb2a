"""OAuth through stock better-auth on both lines, and Django's clients and tokens used there."""

from __future__ import annotations

import pytest

from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthConsent, OAuthRefreshToken
from beep_iam.services import oauth_clients, oauth_tokens
from beep_shared import crypto
from beep_shared.models import User

from . import oauth
from .checks import loads, shown_in_admin
from .test_accounts import sign_up

pytestmark = pytest.mark.django_db(transaction=True)


def test_code_flow_refresh_reuse_introspect_revoke(better_auth):
    browser, user_body = sign_up(better_auth)
    client = oauth.register_client(browser)

    # Registration: Django loads and validates the client and verifies its secret.
    stored = OAuthClient.objects.get(client_id=client["client_id"])
    stored.full_clean()
    assert stored.client_secret != client["client_secret"]  # a digest, not the secret
    assert oauth_clients.verify_client_secret(stored, client["client_secret"])

    code, verifier = oauth.authorize(browser, client["client_id"])
    consent = OAuthConsent.objects.get(client_id=client["client_id"], user_id=user_body["id"])
    consent.full_clean()

    issued = oauth.exchange_code(better_auth, client, code, verifier)
    assert issued.status == 200, issued.body
    access, refresh = issued.body["access_token"], issued.body["refresh_token"]
    access_row = loads(
        OAuthAccessToken, OAuthAccessToken.objects.get(token=crypto.digest(access)).pk
    )
    refresh_row = loads(
        OAuthRefreshToken, OAuthRefreshToken.objects.get(token=crypto.digest(refresh)).pk
    )
    assert access_row.user_id == refresh_row.user_id == user_body["id"]
    for row in (stored, consent, access_row, refresh_row):
        shown_in_admin(row)
    assert oauth_tokens.validate_access_token(access) is not None
    assert oauth_tokens.introspect(access)["active"] is True

    userinfo = better_auth.request(
        "GET", "/api/auth/oauth2/userinfo", headers={"authorization": f"Bearer {access}"}
    )
    assert userinfo.status == 200, userinfo.body
    assert userinfo.body["sub"] == user_body["id"] and userinfo.body["email"] == "ada@example.com"

    refreshed = oauth.token(better_auth, client, grant_type="refresh_token", refresh_token=refresh)
    assert refreshed.status == 200, refreshed.body
    new_access, new_refresh = refreshed.body["access_token"], refreshed.body["refresh_token"]
    loads(OAuthRefreshToken, OAuthRefreshToken.objects.get(token=crypto.digest(new_refresh)).pk)
    assert oauth_tokens.introspect(new_access)["active"] is True

    assert oauth.is_active(better_auth, client, new_access)
    assert oauth.is_active(better_auth, client, new_refresh, "refresh_token")

    # Reuse of the rotated refresh token: refused, and the family is no longer usable.
    reused = oauth.token(better_auth, client, grant_type="refresh_token", refresh_token=refresh)
    # (1.7 answers invalid_grant, 1.4 invalid_request.)
    assert reused.status == 400 and reused.body["error"].startswith("invalid_"), reused.body
    assert oauth_tokens.introspect(new_refresh, token_type_hint="refresh_token") == {
        "active": False
    }

    # Revocation by better-auth: inactive for Django (1.7 sets revoked, 1.4 deletes the row).
    second_code, second_verifier = oauth.authorize(browser, client["client_id"])
    second = oauth.exchange_code(better_auth, client, second_code, second_verifier)
    assert second.status == 200, second.body
    revoked = oauth.revoke(better_auth, client, second.body["access_token"], "access_token")
    assert revoked.status == 200, revoked.body
    assert oauth_tokens.validate_access_token(second.body["access_token"]) is None
    assert not oauth.is_active(better_auth, client, second.body["access_token"])


def test_django_client_and_tokens_through_better_auth(better_auth):
    browser, user_body = sign_up(better_auth)
    registered = oauth_clients.register_client(
        name="Django App",
        redirect_uris=[oauth.REDIRECT_URI],
        token_endpoint_auth_method="client_secret_post",
        grant_types=["authorization_code", "refresh_token"],
        scopes=oauth.SCOPE.split(),
    )
    client = {"client_id": registered.client.client_id, "client_secret": registered.client_secret}

    # A Django client in better-auth's code flow.
    code, verifier = oauth.authorize(browser, client["client_id"])
    issued = oauth.exchange_code(better_auth, client, code, verifier)
    assert issued.status == 200, issued.body
    assert oauth_tokens.validate_access_token(issued.body["access_token"]) is not None

    # Django-issued tokens: introspected and refreshed by better-auth.
    user = User.objects.get(pk=user_body["id"])
    tokens = oauth_tokens.issue_tokens(
        registered.client,
        scopes=["openid", "email", "offline_access"],
        user=user,
        with_refresh=True,
    )
    assert oauth.is_active(better_auth, client, tokens.access_token)
    refreshed = oauth.token(
        better_auth, client, grant_type="refresh_token", refresh_token=tokens.refresh_token
    )
    assert refreshed.status == 200, refreshed.body
    assert oauth_tokens.introspect(refreshed.body["access_token"])["active"] is True

    # Revoked by Django: inactive for better-auth, 1.4 (no revoked column there) included.
    assert oauth_tokens.revoke_token(
        refreshed.body["access_token"], client_id=registered.client.client_id
    )
    assert not oauth.is_active(better_auth, client, refreshed.body["access_token"])
    userinfo = better_auth.request(
        "GET",
        "/api/auth/oauth2/userinfo",
        headers={"authorization": f"Bearer {refreshed.body['access_token']}"},
    )
    # Refused (1.7: 401; 1.4 finds no active token, so no openid scope: 400 invalid_scope).
    assert userinfo.status in (400, 401) and "sub" not in userinfo.body, userinfo.body
    assert oauth_tokens.revoke_token(
        refreshed.body["refresh_token"], client_id=registered.client.client_id
    )
    again = oauth.token(
        better_auth,
        client,
        grant_type="refresh_token",
        refresh_token=refreshed.body["refresh_token"],
    )
    assert again.status == 400, again.body
