"""Impersonation sessions (better-auth's admin plugin: ``session.impersonated_by``) act as
the user with at most the impersonator's Django rights, and only while the impersonator may
sign in; they cannot authorize applications for the user. Security review 14: a banned or
deactivated impersonator's session kept acting as the user, deleting the impersonator
(``ON DELETE SET NULL``) turned the session into the user's own, and an impersonator could
consent as the user and keep a refresh token after the impersonation ended."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory

from beep_iam.better_auth.sessions import session_from_request, signed_session_cookie
from beep_iam.models import DeviceCode, OAuthConsent
from beep_shared.models import Session, User
from tests.factories import UserFactory
from tests.oauth2.conftest import _issuer, authorize_url, pkce, web  # noqa: F401

from .conftest import SECRET

COOKIE = "better-auth.session_token"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def co_tenancy(settings, _issuer):  # noqa: F811
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_SECRET": SECRET}
    middleware = list(django_settings.MIDDLEWARE)
    tenant = middleware.index("beep_shared.rls.middleware.TenantMiddleware")
    middleware.insert(tenant, "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware")
    settings.MIDDLEWARE = middleware


def impersonation() -> tuple[User, User, Session, str]:
    support = UserFactory.create(role="admin")
    target = UserFactory.create(is_staff=True, is_superuser=True, email_verified=True)
    session, raw = Session.objects.create_session(target, impersonated_by=support)
    return support, target, session, raw


def request_with(raw: str):
    request = RequestFactory().get("/")
    request.COOKIES[COOKIE] = signed_session_cookie(raw)
    return request


def cookie_client(raw: str) -> Client:
    client = Client()
    client.cookies[COOKIE] = signed_session_cookie(raw)
    return client


@pytest.mark.parametrize("barred", [{"banned": True}, {"is_active": False}])
def test_an_impersonator_who_may_not_sign_in_acts_as_no_one(barred):
    support, _, _, raw = impersonation()
    assert session_from_request(request_with(raw)) is not None
    User.objects.filter(pk=support.pk).update(**barred)
    assert session_from_request(request_with(raw)) is None


def test_deleting_the_impersonator_ends_the_session():
    support, _, session, raw = impersonation()
    assert cookie_client(raw).get("/admin/").status_code == 302  # capped: no admin
    support.delete()
    assert session_from_request(request_with(raw)) is None
    assert cookie_client(raw).get("/admin/").status_code == 302
    assert Session.objects.get(pk=session.pk).impersonated_by_id is None  # better-auth's rule


def test_an_impersonation_cannot_authorize_an_application(web):  # noqa: F811
    _, target, _, raw = impersonation()
    http = cookie_client(raw)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, scope="openid offline_access")
    for response in (http.get(url), http.post(url, {"decision": "allow"})):
        assert response.status_code == 403
        assert "impersonation" in response.content.decode()
        assert not response.has_header("Location")
    assert not OAuthConsent.objects.filter(user=target).exists()


def test_an_impersonation_cannot_approve_a_device(web):  # noqa: F811
    _, _, _, raw = impersonation()
    response = cookie_client(raw).get("/device?user_code=ABCD-EFGH")
    assert response.status_code == 403
    assert "impersonation" in response.content.decode()
    assert not DeviceCode.objects.exists()
