"""Sessions and passwords crossing between stock better-auth and Django, both ways.

Co-tenancy settings: sessions stored as better-auth stores them
(``BEEP_SHARED["SESSION_TOKEN_STORAGE"]`` "plain"), the shared secret for its cookie, and
passwords kept in the credential account.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from beep_iam.better_auth.sessions import signed_session_cookie
from beep_shared.models import Organization, Session, User

from .cotenancy import co_tenancy, urlpatterns  # noqa: F401 (the module's fixture and URLs)

COOKIE = "better-auth.session_token"
PASSWORD = "correct horse battery staple"


pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


def sign_up(server, email="ada@example.com"):
    browser = server.browser()
    response = browser.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert response.status == 200, response.body
    return browser, response.body["user"]["id"]


def django_get(cookie: str | None) -> dict:
    client = Client()
    if cookie is not None:
        client.cookies[COOKIE] = cookie
    response = client.get("/whoami/")
    assert response.status_code == 200
    return response.json()


def test_a_better_auth_session_authenticates_a_django_request_as_its_tenant(better_auth):
    browser, user_id = sign_up(better_auth)
    created = browser.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"})
    assert created.status == 200, created.body
    # Another tenant, whose member must not show in Ada's request.
    other, _ = sign_up(better_auth, "other@example.com")
    assert (
        other.post("/api/auth/organization/create", json={"name": "O", "slug": "o"}).status == 200
    )

    got = browser.get("/api/auth/get-session")
    session_id = got.body["session"]["id"]
    assert got.body["session"]["activeOrganizationId"] == created.body["id"]
    # The row holds what better-auth looks up, and Django finds it by the cookie's token.
    token = got.body["session"]["token"]
    assert Session.objects.get_by_token(token).pk == session_id

    body = django_get(browser.cookies[COOKIE])
    assert body == {
        "user": user_id,
        "superuser": False,
        "session": session_id,
        "tenant": created.body["id"],
        "members": [user_id],
    }
    # Signed out in better-auth: the same cookie is an anonymous Django request.
    assert browser.post("/api/auth/sign-out", json={}).status == 200
    assert django_get(signed_session_cookie(token)) == {
        "user": None,
        "superuser": False,
        "session": None,
        "tenant": None,
        "members": [],
    }


def test_a_django_session_is_honoured_by_better_auth(better_auth):
    user = User.objects.create_user("kim@example.com", PASSWORD, name="Kim")
    org = Organization.objects.create(name="Kim's", slug="kims", owner_user=user)
    session, raw = Session.objects.create_session(user, active_organization=org)

    browser = better_auth.browser()
    browser.cookies[COOKIE] = signed_session_cookie(raw)
    got = browser.get("/api/auth/get-session")
    assert got.status == 200 and got.body, got.body
    assert (got.body["session"]["id"], got.body["user"]["id"]) == (session.pk, user.pk)
    assert got.body["session"]["activeOrganizationId"] == org.pk
    assert django_get(browser.cookies[COOKIE])["session"] == session.pk

    # Ended in Django: better-auth no longer knows it either.
    session.delete()
    assert not browser.get("/api/auth/get-session").body


def test_digest_storage_keeps_django_sessions_from_better_auth(better_auth, settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "digest"}
    user = User.objects.create_user("dee@example.com", PASSWORD, name="Dee")
    _, raw = Session.objects.create_session(user)
    browser = better_auth.browser()
    browser.cookies[COOKIE] = signed_session_cookie(raw)
    assert not browser.get("/api/auth/get-session").body  # the documented trade-off


def test_a_better_auth_sign_up_logs_into_the_django_admin(better_auth):
    browser, user_id = sign_up(better_auth, "eve@example.com")
    User.objects.filter(pk=user_id).update(is_staff=True, is_superuser=True)
    client = Client()
    wrong = client.post(reverse("admin:login"), {"username": "eve@example.com", "password": "x"})
    assert wrong.status_code == 200  # the form again, with its error
    response = client.post(
        reverse("admin:login"), {"username": "eve@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200

    # Changed through better-auth: the new password logs in, the old one no longer does.
    changed = browser.post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
    )
    assert changed.status == 200, changed.body
    # ... and the Django session opened with the old password has ended
    # (account_credential_ends_sessions; review 14).
    assert client.get(reverse("admin:index")).status_code == 302
    login = Client().post(
        reverse("admin:login"), {"username": "eve@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    login = Client().post(
        reverse("admin:login"),
        {"username": "eve@example.com", "password": "a brand new passphrase"},
    )
    assert login.status_code == 302


def sign_in(server, email, password):
    return server.browser().post(
        "/api/auth/sign-in/email", json={"email": email, "password": password}
    )


def test_django_users_and_password_changes_sign_in_through_better_auth(better_auth):
    admin_user = User.objects.create_superuser("root@example.com", "root-password", name="Root")
    user = User.objects.create_user("bob@example.com", PASSWORD, name="Bob")
    assert sign_in(better_auth, "root@example.com", "root-password").status == 200
    signed_in = sign_in(better_auth, "bob@example.com", PASSWORD)
    assert signed_in.status == 200 and signed_in.body["user"]["id"] == user.pk

    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "Changed-in-admin-42", "password2": "Changed-in-admin-42"},
    )
    assert response.status_code == 302
    assert sign_in(better_auth, "bob@example.com", PASSWORD).status == 401
    assert sign_in(better_auth, "bob@example.com", "Changed-in-admin-42").status == 200
