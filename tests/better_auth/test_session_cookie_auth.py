"""Django requests authenticated by better-auth's signed session cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path
from django.utils import timezone

from beep_iam.better_auth import signing
from beep_iam.better_auth.middleware import BetterAuthSessionMiddleware
from beep_iam.better_auth.sessions import signed_session_cookie
from beep_shared.models import Session, Team
from beep_shared.rls import current_scope
from tests.factories import OrganizationFactory, TeamFactory, UserFactory

SECRET = "better-auth-secret-for-the-tests-0123456789"
COOKIE = "better-auth.session_token"
MIDDLEWARE_PATH = "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware"


def whoami(request: HttpRequest) -> JsonResponse:
    beep_session = getattr(request, "beep_session", None)
    return JsonResponse(
        {
            "user": request.user.email if request.user.is_authenticated else None,
            "session": beep_session.pk if beep_session else None,
            "tenant": current_scope().tenant_id,
            "teams": sorted(Team.objects.values_list("name", flat=True)),
        }
    )


urlpatterns = [path("admin/", admin.site.urls), path("whoami/", whoami)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def co_tenancy(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {"BETTER_AUTH_SECRET": SECRET}
    middleware = list(django_settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("beep_shared.rls.middleware.TenantMiddleware"), MIDDLEWARE_PATH
    )
    settings.MIDDLEWARE = middleware


def get(client: Client, cookie: str | None, name: str = COOKIE, **extra) -> dict:
    if cookie is not None:
        client.cookies[name] = cookie
    response = client.get("/whoami/", **extra)
    assert response.status_code == 200
    return response.json()


def live_session(**fields) -> tuple[Session, str]:
    fields.setdefault("user", UserFactory.create())
    return Session.objects.create_session(**fields)


def test_a_signed_cookie_authenticates_and_sets_the_sessions_tenant(client):
    user = UserFactory.create()
    org, other = OrganizationFactory.create(owner_user=user), OrganizationFactory.create()
    TeamFactory.create(organization=org, name="ours")
    TeamFactory.create(organization=other, name="theirs")
    session, raw = live_session(user=user, active_organization=org)

    body = get(client, signed_session_cookie(raw))
    assert body == {
        "user": session.user.email,
        "session": session.pk,
        "tenant": org.pk,
        "teams": ["ours"],
    }
    # Without the cookie the same request is anonymous and sees no tenant's rows.
    client.cookies.clear()
    assert get(client, None) == {"user": None, "session": None, "tenant": None, "teams": []}


def test_sessions_stored_as_digests_authenticate_too(client, settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "digest"}
    session, raw = live_session()
    assert session.token != raw
    assert get(client, signed_session_cookie(raw))["session"] == session.pk


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "%",
        "%E0%A4%A.x",
        ".",
        "a" * 5000,
        "token.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "token.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
        signing.sign("\x00\x01", SECRET),
        signing.sign("x" * 300, SECRET),
    ],
)
def test_bad_cookies_are_anonymous_requests(client, cookie):
    live_session()
    assert get(client, cookie)["user"] is None


def test_a_cookie_signed_with_another_secret_is_rejected(client):
    _, raw = live_session()
    forged = signing.sign(raw, "not-the-shared-secret-not-the-shared-secret")
    assert get(client, forged)["user"] is None
    assert get(client, signing.sign(raw, SECRET))["user"] is not None


def test_unknown_and_expired_sessions_are_rejected(client):
    assert get(client, signing.sign("no-such-session-token", SECRET))["user"] is None
    session, raw = live_session()
    Session.objects.filter(pk=session.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(days=1)
    )
    assert get(client, signed_session_cookie(raw))["user"] is None


def test_banned_and_inactive_users_are_rejected(client):
    banned = UserFactory.create(banned=True)
    _, raw = live_session(user=banned)
    assert get(client, signed_session_cookie(raw))["user"] is None

    banned.ban_expires = timezone.now() + timedelta(hours=1)
    banned.save()
    assert get(client, signed_session_cookie(raw))["user"] is None

    banned.ban_expires = timezone.now() - timedelta(hours=1)  # the ban is over
    banned.save()
    assert get(client, signed_session_cookie(raw))["user"] == banned.email

    inactive = UserFactory.create(is_active=False)
    _, raw = live_session(user=inactive)
    assert get(client, signed_session_cookie(raw))["user"] is None


def test_the_secure_prefix_follows_https_unless_configured(client, settings):
    session, raw = live_session()
    cookie = signed_session_cookie(raw)
    secure_name = f"__Secure-{COOKIE}"
    assert get(client, cookie, secure_name, secure=True)["session"] == session.pk
    client.cookies.clear()
    assert get(client, cookie, COOKIE, secure=True)["session"] is None  # https wants __Secure-
    assert get(client, cookie, COOKIE)["session"] == session.pk

    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_SECURE_COOKIES": True}
    client.cookies.clear()
    assert get(client, cookie, COOKIE)["session"] is None
    assert get(client, cookie, secure_name)["session"] == session.pk


def test_cookie_prefix_and_name_are_configurable(client, settings):
    session, raw = live_session()
    cookie = signed_session_cookie(raw)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_COOKIE_PREFIX": "beep"}
    assert get(client, cookie, COOKIE)["session"] is None
    assert get(client, cookie, "beep.session_token")["session"] == session.pk

    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_SESSION_COOKIE": "sid"}
    client.cookies.clear()
    assert get(client, cookie, "beep.session_token")["session"] is None
    assert get(client, cookie, "sid")["session"] == session.pk


def test_a_django_login_of_another_user_is_not_replaced(client):
    _, raw = live_session(active_organization=OrganizationFactory.create())
    someone_else = UserFactory.create()
    client.force_login(someone_else)
    body = get(client, signed_session_cookie(raw))
    assert (body["user"], body["session"], body["tenant"]) == (someone_else.email, None, None)


def test_a_staff_users_cookie_opens_the_admin(client):
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    _, raw = live_session(user=staff)
    client.cookies[COOKIE] = signed_session_cookie(raw)
    assert client.get("/admin/").status_code == 200
    client.cookies[COOKIE] = signing.sign(raw, "not-the-shared-secret-not-the-shared-secret")
    assert client.get("/admin/").status_code == 302  # to the login page


def test_the_middleware_needs_the_secret(settings):
    settings.BEEP_IAM = {}
    with pytest.raises(ImproperlyConfigured, match="BETTER_AUTH_SECRET"):
        BetterAuthSessionMiddleware(lambda request: None)  # type: ignore[return-value]
