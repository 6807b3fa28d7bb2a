"""Stock better-auth (1.7 and 1.4, with its ``admin`` plugin) against Django's login path:
remove-member, impersonation, sign-out and logout, password changes and the lock-out.

Co-tenancy settings as in docs/better-auth.md (plain session tokens, the shared secret,
passwords in the credential account, ``CredentialAccountBackend``).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse

from beep_iam.models import Account
from beep_shared.models import Session, User

from .cotenancy import co_tenancy, urlpatterns  # noqa: F401 (the module's fixture and URLs)

COOKIE = "better-auth.session_token"
PASSWORD = "correct horse battery staple"


pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


def sign_up(server, email):
    browser = server.browser()
    response = browser.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "X"}
    )
    assert response.status == 200, response.body
    return browser, response.body["user"]["id"]


def sign_in(server, email, password=PASSWORD):
    browser = server.browser()
    response = browser.post("/api/auth/sign-in/email", json={"email": email, "password": password})
    return browser, response


def django_client(browser_or_cookie) -> Client:
    client = Client()
    cookie = browser_or_cookie
    if not isinstance(cookie, str):
        cookie = browser_or_cookie.cookies[COOKIE]
    client.cookies[COOKIE] = cookie
    return client


def django_get(browser_or_cookie) -> dict:
    response = django_client(browser_or_cookie).get("/whoami/")
    assert response.status_code == 200
    return response.json()


def test_a_member_removed_by_better_auth_loses_the_organization_in_django(better_auth):
    owner, _ = sign_up(better_auth, "owner@example.com")
    created = owner.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"})
    assert created.status == 200, created.body
    org_id = created.body["id"]
    member, member_id = sign_up(better_auth, "member@example.com")
    better_auth.api(
        "addMember", body={"userId": member_id, "role": "member", "organizationId": org_id}
    )
    active = member.post("/api/auth/organization/set-active", json={"organizationId": org_id})
    assert active.status == 200, active.body
    assert django_get(member)["tenant"] == org_id

    removed = owner.post(
        "/api/auth/organization/remove-member",
        json={"memberIdOrEmail": "member@example.com", "organizationId": org_id},
    )
    assert removed.status == 200, removed.body
    # better-auth refuses the removed member; so does Django, though the session still
    # names the organization.
    listed = member.get("/api/auth/organization/list-members", query={"organizationId": org_id})
    assert listed.status in (400, 403), listed.body
    assert Session.objects.get(user_id=member_id).active_organization_id == org_id
    body = django_get(member)
    assert (body["user"], body["tenant"], body["members"]) == (member_id, None, [])


def test_impersonation_by_a_better_auth_admin_gives_no_django_superuser(better_auth):
    _, support_id = sign_up(better_auth, "support@example.com")
    User.objects.filter(pk=support_id).update(role="admin")  # a support agent, not Django staff
    root = User.objects.create_user("root@example.com", "root-password-42", name="Root")
    User.objects.filter(pk=root.pk).update(is_staff=True, is_superuser=True)  # role stays user

    support, signed_in = sign_in(better_auth, "support@example.com")
    assert signed_in.status == 200, signed_in.body
    impersonated = support.post("/api/auth/admin/impersonate-user", json={"userId": root.pk})
    assert impersonated.status == 200, impersonated.body
    session = Session.objects.get(user=root, impersonated_by_id=support_id)
    assert better_auth.request("GET", "/api/auth/get-session").status == 200

    body = django_get(support)
    assert (body["user"], body["superuser"]) == (root.pk, False)
    assert django_client(support).get("/admin/").status_code == 302  # to the login page
    root.refresh_from_db()
    assert (root.is_staff, root.is_superuser) == (True, True)  # the cut is per request only
    assert Session.objects.filter(pk=session.pk).exists()


def test_django_logout_ends_the_better_auth_session(better_auth):
    browser, user_id = sign_up(better_auth, "out@example.com")
    User.objects.filter(pk=user_id).update(is_staff=True, is_superuser=True)
    cookie = browser.cookies[COOKIE]
    client = django_client(cookie)
    assert client.get("/admin/").status_code == 200
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200
    assert response.cookies[COOKIE]["max-age"] == 0
    # better-auth no longer knows the session, and the old cookie opens nothing in Django.
    assert not browser.get("/api/auth/get-session").body
    assert django_client(cookie).get("/admin/").status_code == 302


def test_better_auth_sign_out_ends_the_django_request_too(better_auth):
    browser, user_id = sign_up(better_auth, "signout@example.com")
    cookie = browser.cookies[COOKIE]
    assert django_get(cookie)["user"] == user_id
    assert browser.post("/api/auth/sign-out", json={}).status == 200
    assert django_get(cookie)["user"] is None


def test_a_password_set_in_django_ends_the_better_auth_sessions(better_auth):
    first, user_id = sign_up(better_auth, "pw@example.com")
    second, response = sign_in(better_auth, "pw@example.com")
    assert response.status == 200, response.body
    user = User.objects.get(pk=user_id)
    user.set_password("Changed-in-django-42")
    user.save()
    for browser in (first, second):
        cookie = browser.cookies[COOKIE]
        assert not browser.get("/api/auth/get-session").body
        assert django_get(cookie)["user"] is None
    assert sign_in(better_auth, "pw@example.com")[1].status == 401
    assert sign_in(better_auth, "pw@example.com", "Changed-in-django-42")[1].status == 200


def test_deleting_the_credential_account_locks_out_of_both(better_auth):
    _, user_id = sign_up(better_auth, "locked@example.com")
    assert authenticate(username="locked@example.com", password=PASSWORD).pk == user_id
    Account.objects.filter(user_id=user_id, provider_id="credential").delete()
    assert sign_in(better_auth, "locked@example.com")[1].status == 401
    assert authenticate(username="locked@example.com", password=PASSWORD) is None
    assert sign_in(better_auth, "locked@example.com")[1].status == 401  # nothing wrote it back


def test_is_active_false_is_djangos_own_flag(better_auth):
    """The documented meaning: Django refuses the user (login and cookie), better-auth does
    not know the flag and still signs them in; to shut both, ban or delete the credential."""
    _, user_id = sign_up(better_auth, "inactive@example.com")
    User.objects.filter(pk=user_id).update(is_active=False)
    browser, response = sign_in(better_auth, "inactive@example.com")
    assert response.status == 200
    assert django_get(browser)["user"] is None
    assert authenticate(username="inactive@example.com", password=PASSWORD) is None

    User.objects.filter(pk=user_id).update(is_active=True, banned=True)
    assert sign_in(better_auth, "inactive@example.com")[1].status == 403
