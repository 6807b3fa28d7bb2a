"""The better-auth session and password as a way into Django.

Co-tenancy settings as docs/better-auth.md gives them: plain session tokens, the shared
secret, passwords in the credential account, ``CredentialAccountBackend``. The tests that
drive stock better-auth are in ``test_login_interop.py``.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import AnonymousUser, Permission
from django.db import OperationalError, connection
from django.db.models.query import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter

from beep_iam.better_auth import hashers
from beep_iam.better_auth.middleware import BetterAuthSessionMiddleware
from beep_iam.better_auth.sessions import signed_session_cookie
from beep_iam.models import Account, Member, MemberStatus
from beep_iam.services.oauth_clients import authenticate_client, register_client
from beep_iam.services.oauth_errors import InvalidClient
from beep_shared.checks import check_login_honours_user_validity
from beep_shared.models import Session, Team, User
from beep_shared.models.user import may_authenticate_sql
from beep_shared.rls import current_scope, tenant_context
from beep_shared.rls.access import may_work_in
from tests.factories import OrganizationFactory, TeamFactory, UserFactory

SECRET = "better-auth-secret-for-the-tests-0123456789"
COOKIE = "better-auth.session_token"
PASSWORD = "correct horse battery staple"
BACKEND = "beep_iam.better_auth.backends.CredentialAccountBackend"
# The project's own, read before any test overrides it.
DJANGO_ONLY_BACKENDS = list(django_settings.AUTHENTICATION_BACKENDS)


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {
            "user": user.email if user.is_authenticated else None,
            "staff": user.is_staff,
            "superuser": user.is_superuser,
            "tenant": current_scope().tenant_id,
            "teams": sorted(Team.objects.values_list("name", flat=True)),
        }
    )


urlpatterns = [path("admin/", admin.site.urls), path("whoami/", whoami)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def co_tenancy(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {
        "BETTER_AUTH_SECRET": SECRET,
        "BETTER_AUTH_PASSWORDS": True,
    }
    settings.AUTHENTICATION_BACKENDS = [BACKEND]
    middleware = list(django_settings.MIDDLEWARE)
    tenant = middleware.index("beep_shared.rls.middleware.TenantMiddleware")
    middleware.insert(tenant, "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware")
    settings.MIDDLEWARE = middleware


def cookie_client(raw: str) -> Client:
    client = Client()
    client.cookies[COOKIE] = signed_session_cookie(raw)
    return client


def whoami_with(raw: str) -> dict:
    response = cookie_client(raw).get("/whoami/")
    assert response.status_code == 200
    return response.json()


def better_auth_user(email: str, password: str = PASSWORD, **fields) -> User:
    """A user as better-auth's sign-up leaves one: no Django hash, a credential account."""
    user = User.objects.create(email=email, name=email.split("@")[0], **fields)
    Account.objects.create(
        user=user,
        provider_id="credential",
        account_id=user.pk,
        password=hashers.hash_for_better_auth(password),
    )
    return user


# --- 1. the organization of a better-auth session is re-checked on every request ----------


def test_a_removed_or_suspended_member_loses_the_sessions_organization():
    user = UserFactory.create()
    org = OrganizationFactory.create()
    TeamFactory.create(organization=org, name="ours")
    with tenant_context(org):
        membership = Member.objects.create(organization=org, user=user, role="member")
    _, raw = Session.objects.create_session(user, active_organization=org)
    assert whoami_with(raw)["tenant"] == org.pk

    with tenant_context(org):
        Member.objects.filter(pk=membership.pk).update(status=MemberStatus.SUSPENDED)
    assert (whoami_with(raw)["tenant"], whoami_with(raw)["teams"]) == (None, [])

    with tenant_context(org):
        Member.objects.filter(pk=membership.pk).delete()
    assert (whoami_with(raw)["tenant"], whoami_with(raw)["teams"]) == (None, [])


def test_a_removed_member_cannot_write_the_organizations_rows_in_the_admin():
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_team"))
    org = OrganizationFactory.create()
    team = TeamFactory.create(organization=org, name="ours")
    with tenant_context(org):
        membership = Member.objects.create(organization=org, user=staff, role="admin")
    _, raw = Session.objects.create_session(staff, active_organization=org)
    client = cookie_client(raw)
    change = reverse("admin:beep_shared_team_change", args=[team.pk])
    assert client.get(change).status_code == 200
    with tenant_context(org):
        Member.objects.filter(pk=membership.pk).delete()
    assert client.get(change).status_code == 302  # no such row in no organization
    client.post(change, {"name": "taken over", "slug": team.slug})
    with tenant_context(org):
        assert Team.objects.get(pk=team.pk).name == "ours"


def test_a_user_who_may_not_authenticate_works_in_no_organization():
    owner = UserFactory.create()
    org = OrganizationFactory.create(owner_user=owner)
    assert may_work_in(owner, org)
    User.objects.filter(pk=owner.pk).update(banned=True)
    owner.refresh_from_db()
    assert not may_work_in(owner, org)


# --- 2. an impersonation session never has more Django rights than its impersonator -------


def test_an_impersonation_carries_no_more_rights_than_the_impersonator():
    support = UserFactory.create(role="admin")  # better-auth admin, no Django rights
    root = UserFactory.create(is_staff=True, is_superuser=True)
    _, raw = Session.objects.create_session(root, impersonated_by=support)
    body = whoami_with(raw)
    assert (body["user"], body["staff"], body["superuser"]) == (root.email, False, False)
    assert cookie_client(raw).get("/admin/").status_code == 302  # to the login page

    # A staff impersonator: staff, with only the permissions both users hold.
    support.is_staff = True
    support.save()
    view_team = Permission.objects.get(codename="view_team")
    support.user_permissions.add(view_team)
    body = whoami_with(raw)
    assert (body["staff"], body["superuser"]) == (True, False)
    client = cookie_client(raw)
    assert client.get(reverse("admin:beep_shared_team_changelist")).status_code == 200
    assert client.get(reverse("admin:beep_shared_user_changelist")).status_code == 403


def test_the_cut_is_never_saved():
    support = UserFactory.create()
    root = UserFactory.create(is_staff=True, is_superuser=True)
    _, raw = Session.objects.create_session(root, impersonated_by=support)
    request = RequestFactory().get("/whoami/")
    request.COOKIES[COOKIE] = signed_session_cookie(raw)
    seen = {}

    def view(request):
        seen["superuser"] = request.user.is_superuser
        request.user.name = "renamed while impersonated"
        request.user.save()
        return HttpResponse()

    BetterAuthSessionMiddleware(view)(request)
    assert seen == {"superuser": False}
    root.refresh_from_db()
    assert (root.name, root.is_staff, root.is_superuser) == (
        "renamed while impersonated",
        True,
        True,
    )


# --- 3. lock-out ------------------------------------------------------------------------


def test_deleting_the_credential_account_locks_the_django_login_out():
    user = User.objects.create_user("lock@example.com", PASSWORD, name="Lock")
    assert authenticate(username=user.email, password=PASSWORD) == user
    Account.objects.filter(user=user, provider_id="credential").delete()
    assert authenticate(username=user.email, password=PASSWORD) is None
    assert not Account.objects.filter(user=user).exists()  # and nothing wrote it back
    user.refresh_from_db()
    assert not user.check_password(PASSWORD)


@pytest.mark.parametrize("refused", [{"is_active": False}, {"banned": True}])
def test_a_refused_login_writes_no_credential(settings, refused):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_PASSWORDS": False}
    user = User.objects.create_user("old@example.com", PASSWORD, name="Old", **refused)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_PASSWORDS": True}
    assert authenticate(username=user.email, password=PASSWORD) is None
    assert not Account.objects.filter(user=user).exists()


def test_an_accepted_legacy_login_moves_the_password_into_the_credential(settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_PASSWORDS": False}
    user = User.objects.create_user("legacy@example.com", PASSWORD, name="Legacy")
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_PASSWORDS": True}
    assert authenticate(username=user.email, password=PASSWORD) == user
    account = Account.objects.get(user=user, provider_id="credential")
    assert hashers.verify_better_auth(PASSWORD, account.password)
    user.refresh_from_db()
    assert not is_password_usable(user.password)  # one copy: the credential account's
    assert user.has_usable_password() and user.check_password(PASSWORD)


# --- 4. logging out logs out; a password change ends the other sessions -------------------


def test_the_admins_log_out_ends_the_better_auth_session_and_its_cookie():
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    session, raw = Session.objects.create_session(staff)
    client = cookie_client(raw)
    assert client.get("/admin/").status_code == 200
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200
    assert not Session.objects.filter(pk=session.pk).exists()
    deleted = response.cookies[COOKIE]
    assert deleted.value == "" and deleted["max-age"] == 0
    # The browser kept the old cookie anyway: it opens nothing.
    assert cookie_client(raw).get("/admin/").status_code == 302


def test_a_password_changed_in_django_ends_the_users_other_sessions():
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_team"))
    current, raw = Session.objects.create_session(staff)
    other, other_raw = Session.objects.create_session(staff)
    bystander, _ = Session.objects.create_session(UserFactory.create())
    client = cookie_client(raw)
    response = client.post(
        reverse("admin:password_change"),
        {
            "old_password": "correct horse battery staple",
            "new_password1": "Changed-in-django-42",
            "new_password2": "Changed-in-django-42",
        },
    )
    assert response.status_code == 302, response.content
    remaining = set(Session.objects.values_list("pk", flat=True))
    assert current.pk in remaining and bystander.pk in remaining
    assert other.pk not in remaining
    assert whoami_with(other_raw)["user"] is None
    assert whoami_with(raw)["user"] == staff.email

    # Outside a request (a shell, a command): every session of the user ends.
    staff.set_password("Changed-again-42")
    staff.save()
    assert not Session.objects.filter(user=staff).exists()


@pytest.mark.parametrize("change", ["reset", "lock-out"])
def test_a_password_changed_by_better_auth_ends_the_django_sessions(change):
    # Review 14: better-auth's change-password / reset-password write account.password only,
    # and the lock-out deletes the account; Django's session hash (and the tenant check's
    # fingerprint) come from user.password, which stayed the same marker.
    staff = User.objects.create_user(
        "staff@example.com", PASSWORD, name="Staff", is_staff=True, is_superuser=True
    )
    client = Client()
    assert client.login(username=staff.email, password=PASSWORD)
    assert client.get("/admin/").status_code == 200
    credential = Account.objects.filter(user=staff, provider_id="credential")
    if change == "reset":  # what better-auth writes
        credential.update(password=hashers.hash_for_better_auth("a brand new password"))
    else:
        credential.delete()
    assert client.get("/admin/").status_code == 302
    staff.refresh_from_db()
    assert not is_password_usable(staff.password)


def test_the_credential_trigger_runs_with_its_owners_rights():
    # better-auth's role may not update user.password (its grants name better-auth's columns);
    # without SECURITY DEFINER its change-password failed (a 500 at better-auth).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.prosecdef, p.proconfig FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgname LIKE %s",
            ["pgtrigger_account_credential_ends_sessions_%"],
        )
        (definer, config), *others = cursor.fetchall()
    assert definer is True and not others
    # The tables' schema, and a caller's temporary tables last (review 15).
    assert config == ["search_path=pg_catalog, public, pg_temp"]


def test_a_credential_change_leaves_a_usable_django_password_alone(settings):
    # Without shared passwords Django's password is its own: better-auth's is another.
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_PASSWORDS": False}
    user = User.objects.create_user("own@example.com", PASSWORD, name="Own")
    Account.objects.create(
        user=user, provider_id="credential", account_id=user.pk, password="salt:key"
    )
    before = User.objects.get(pk=user.pk).password
    Account.objects.filter(user=user).update(password="other:key")
    assert User.objects.get(pk=user.pk).password == before


# --- 5. one validity rule: soft-deleted users, sessions and clients -----------------------


def test_soft_deleted_users_and_sessions_do_not_authenticate(client):
    user = UserFactory.create(is_staff=True, is_superuser=True)
    _, raw = Session.objects.create_session(user)
    assert whoami_with(raw)["user"] == user.email
    Session.objects.filter(user=user).update(deleted_at=timezone.now())
    assert whoami_with(raw)["user"] is None

    _, raw = Session.objects.create_session(user)
    assert whoami_with(raw)["user"] == user.email
    User.objects.filter(pk=user.pk).update(deleted_at=timezone.now())
    assert whoami_with(raw)["user"] is None
    assert authenticate(username=user.email, password=PASSWORD) is None


@pytest.mark.parametrize(
    "fields",
    [{"banned": True}, {"deleted_at": timezone.now()}, {"is_active": False}],
    ids=["banned", "soft-deleted", "inactive"],
)
def test_django_only_logins_honour_the_rule_too(settings, fields):
    """The project's default backend (no better-auth): the admin login and a Django session
    already logged in."""
    settings.AUTHENTICATION_BACKENDS = DJANGO_ONLY_BACKENDS
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "better_auth" not in m]
    settings.BEEP_IAM = {}
    user = User.objects.create_user("dj@example.com", PASSWORD, name="Dj", is_staff=True)
    logged_in = Client()
    assert logged_in.login(username=user.email, password=PASSWORD)
    assert logged_in.get("/admin/").status_code == 200
    User.objects.filter(pk=user.pk).update(**fields)
    assert logged_in.get("/admin/").status_code == 302  # the ban ends the Django session too
    login = Client().post(reverse("admin:login"), {"username": user.email, "password": PASSWORD})
    assert login.status_code == 200  # the form again: refused


def test_djangos_model_backend_is_flagged(settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert [m.id for m in check_login_honours_user_validity(None)] == ["beep_shared.W020"]
    for good in (DJANGO_ONLY_BACKENDS, [BACKEND]):
        settings.AUTHENTICATION_BACKENDS = good
        assert check_login_honours_user_validity(None) == []


def test_a_soft_deleted_client_does_not_authenticate():
    registered = register_client(
        name="Soft",
        redirect_uris=["https://app.example/cb"],
        token_endpoint_auth_method="client_secret_basic",
    )
    client = registered.client
    assert authenticate_client(client.client_id, registered.client_secret) == client
    type(client).objects.filter(pk=client.pk).update(deleted_at=timezone.now())
    with pytest.raises(InvalidClient):
        authenticate_client(client.client_id, registered.client_secret)


def test_the_sql_twin_of_the_user_rule_agrees_with_python():
    now = timezone.now()
    cases = [
        {},
        {"is_active": False},
        {"banned": True},
        {"banned": True, "ban_expires": now + timedelta(hours=1)},
        {"banned": True, "ban_expires": now - timedelta(hours=1)},
        {"deleted_at": now},
    ]
    users = [UserFactory.create(**fields) for fields in cases]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT u.id, {may_authenticate_sql("u")} FROM "user" u WHERE u.id = ANY(%s)',
            [[u.pk for u in users]],
        )
        in_sql = dict(cursor.fetchall())
    in_python = {u.pk: u.may_authenticate() for u in users}
    assert in_sql == in_python
    assert list(in_python.values()) == [True, False, False, False, True, False]


# --- 6. User.check_password gives the login's answer --------------------------------------


def test_check_password_of_a_better_auth_sign_up_agrees_with_the_login():
    user = better_auth_user("signed-up@example.com")  # never logged into Django
    assert user.check_password(PASSWORD)
    assert not user.check_password("wrong")
    assert user.has_usable_password()
    assert authenticate(username=user.email, password=PASSWORD) == user
    fresh = User.objects.get(pk=user.pk)
    form = PasswordChangeForm(
        fresh,
        {
            "old_password": PASSWORD,
            "new_password1": "A-new-one-for-ba-42",
            "new_password2": "A-new-one-for-ba-42",
        },
    )
    assert form.is_valid(), form.errors


# --- 7. every path of the login costs the same: one scrypt, nothing else ------------------


@pytest.fixture
def hash_calls(monkeypatch):
    """Counts the key derivations (a spy: the real functions still run)."""
    calls = {"scrypt": 0, "pbkdf2": 0}
    scrypt, pbkdf2 = hashlib.scrypt, hashlib.pbkdf2_hmac

    def counted_scrypt(*args, **kwargs):
        calls["scrypt"] += 1
        return scrypt(*args, **kwargs)

    def counted_pbkdf2(*args, **kwargs):
        calls["pbkdf2"] += 1
        return pbkdf2(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted_scrypt)
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted_pbkdf2)
    return calls


def test_every_refusal_costs_one_scrypt(hash_calls):
    with_credential = better_auth_user("cred@example.com")
    without = User.objects.create(email="nocred@example.com", name="No credential")
    banned = better_auth_user("banned@example.com", banned=True)
    inactive = better_auth_user("off@example.com", is_active=False)
    attempts = {
        "unknown email": ("nobody@example.com", PASSWORD),
        "no credential account": (without.email, PASSWORD),
        "wrong password": (with_credential.email, "wrong"),
        "banned": (banned.email, PASSWORD),
        "inactive": (inactive.email, PASSWORD),
    }
    costs = {}
    for name, (email, password) in attempts.items():
        hash_calls.update(scrypt=0, pbkdf2=0)
        assert authenticate(username=email, password=password) is None
        costs[name] = dict(hash_calls)
    assert costs == {name: {"scrypt": 1, "pbkdf2": 0} for name in attempts}


# --- 8. no secret on a DEBUG 500 page or in an error report -------------------------------


def failure_report(request: HttpRequest, call, expected: type[Exception]) -> str:
    """The DEBUG 500 page and the text error report of ``call()`` failing (the traceback
    starts here: the test's own locals are not in it)."""
    try:
        call()
    except expected:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_html() + reporter.get_traceback_text()
    raise AssertionError("the call did not fail")


def test_a_failing_session_lookup_shows_no_session_token(monkeypatch, settings):
    settings.DEBUG = True
    _, raw = Session.objects.create_session(UserFactory.create())
    request = RequestFactory().get("/whoami/")
    request.COOKIES[COOKIE] = signed_session_cookie(raw)
    request.META["HTTP_COOKIE"] = f"{COOKIE}={signed_session_cookie(raw)}"

    def database_gone(self):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(QuerySet, "first", database_gone)
    middleware = BetterAuthSessionMiddleware(lambda request: HttpResponse())
    report = failure_report(request, lambda: middleware(request), OperationalError)
    assert "session_from_request" in report  # the frames are there, their values are not
    assert raw not in report


def test_a_failing_credential_check_shows_no_password(monkeypatch, settings):
    settings.DEBUG = True
    secret = f"plaintext-{uuid.uuid4()}"  # not in this file's source, which the page shows
    user = better_auth_user("broken@example.com", secret)

    def out_of_memory(*args, **kwargs):
        # Not a ValueError: the admin's login form answers an unreadable hash (ValueError) as a
        # wrong password; this is a failure no form catches.
        raise MemoryError("[digital envelope routines] memory limit exceeded")

    monkeypatch.setattr(hashlib, "scrypt", out_of_memory)
    request = RequestFactory().post(
        "/admin/login/", {"username": user.email, "password": secret, "next": "/admin/"}
    )
    request.session = Client().session
    request.user = AnonymousUser()
    request._dont_enforce_csrf_checks = True
    report = failure_report(request, lambda: admin.site.login(request), MemoryError)
    assert "derive_key" in report  # the frames are there, their values are not
    assert secret not in report
