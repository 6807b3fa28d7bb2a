"""RP-initiated logout in co-tenancy: an ID token whose ``sid`` is the browser's better-auth
session signs it out at once and deletes that session; one of another session asks first
(RP-Initiated Logout 1.0 section 2)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.test import Client

from beep_iam.better_auth.sessions import signed_session_cookie
from beep_iam.oauth2.claims import id_token
from beep_iam.services.oauth_clients import register_client
from beep_shared.models import Session
from tests.factories import UserFactory

from .conftest import SECRET

pytestmark = pytest.mark.django_db

COOKIE = "better-auth.session_token"
ISSUER = "https://auth.example.com"
AFTER = "https://client.example.com/signed-out"


@pytest.fixture(autouse=True)
def co_tenancy(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {"BETTER_AUTH_SECRET": SECRET, "OAUTH2_ISSUER": ISSUER}
    middleware = list(django_settings.MIDDLEWARE)
    tenant = middleware.index("beep_shared.rls.middleware.TenantMiddleware")
    middleware.insert(tenant, "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware")
    settings.MIDDLEWARE = middleware


@pytest.fixture
def logout_client():
    return register_client(
        redirect_uris=["https://client.example.com/cb"],
        post_logout_redirect_uris=[AFTER],
        enable_end_session=True,
    ).client


def browser_with(raw: str) -> Client:
    browser = Client()
    browser.cookies[COOKIE] = signed_session_cookie(raw)
    return browser


def hint(user, client, sid: str) -> str:
    return id_token(
        user=user, client_id=client.client_id, scopes=["openid"], access_token="x", session_id=sid
    )


def end(browser: Client, **params: str):
    return browser.get("/oauth2/end-session?" + urlencode(params))


def test_the_sessions_own_token_signs_it_out_and_deletes_it(logout_client):
    user = UserFactory()
    session, raw = Session.objects.create_session(user)
    browser = browser_with(raw)
    response = end(
        browser, id_token_hint=hint(user, logout_client, session.pk), post_logout_redirect_uri=AFTER
    )
    assert response.status_code == 302 and response["Location"] == AFTER
    assert not Session.objects.filter(pk=session.pk).exists()


def test_another_sessions_token_asks_first(logout_client):
    user = UserFactory()
    old, _ = Session.objects.create_session(user)
    current, raw = Session.objects.create_session(user)
    browser = browser_with(raw)
    page = end(
        browser, id_token_hint=hint(user, logout_client, old.pk), post_logout_redirect_uri=AFTER
    )
    assert page.status_code == 200 and b"Sign out?" in page.content
    assert Session.objects.filter(pk__in=[old.pk, current.pk]).count() == 2
