"""Ordinary model permissions never reach another tenant, another
identity or the superuser flag, and "Work here" names nothing to staff who may not see it."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client, RequestFactory
from django.urls import reverse

from beep_iam.admin.tenant import MemberAdmin
from beep_iam.models import Account, Member
from beep_iam.services.oauth_clients import register_client
from beep_shared.admin import OrganizationAdmin, SessionAdmin, UserAdmin
from beep_shared.models import Organization, Session, User
from beep_shared.rls.access import may_work_in
from tests.admin.admin_forms import post_form
from tests.factories import (
    CredentialAccountFactory,
    OrganizationFactory,
    SessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def staff_with(*codenames: str, email: str = "staff@example.com"):
    user = UserFactory(email=email, is_staff=True, password="!")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return user, client


def test_change_session_cannot_point_a_session_at_another_organization():
    staff, client = staff_with("view_session", "change_session")
    own = SessionFactory(user=staff)
    victim = OrganizationFactory(name="Victim Org")
    other = UserFactory(email="other@example.com")
    response = post_form(client, change_url(own), active_organization=victim.pk, user=other.pk)
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.active_organization_id is None
    assert own.user_id == staff.pk


def test_change_organization_cannot_make_oneself_owner(superuser):
    staff, client = staff_with("view_organization", "change_organization")
    victim = OrganizationFactory(name="Victim Org", owner_user=superuser)
    response = post_form(client, change_url(victim), owner_user=staff.pk, name="Renamed")
    assert response.status_code == 302
    victim.refresh_from_db()
    assert victim.name == "Renamed"  # the rest of the form still saves
    assert victim.owner_user_id == superuser.pk
    assert not may_work_in(staff, victim)


def test_a_credential_account_never_changes_hands(superuser):
    staff, client = staff_with(
        "view_account", "change_account", "delete_account", email="mover@example.com"
    )
    own = CredentialAccountFactory(user=staff)
    CredentialAccountFactory(user=superuser).delete()  # delete_account: allowed, a lock-out
    response = post_form(client, change_url(own), user=superuser.pk, provider_id="github")
    assert response.status_code == 302
    own.refresh_from_db()
    assert (own.user_id, own.provider_id) == (staff.pk, "credential")
    # Nor can staff add an account (for the superuser, a provider they control).
    assert client.get(reverse("admin:beep_iam_account_add")).status_code == 403


def test_the_database_refuses_moving_an_account_to_another_user(superuser):
    account = CredentialAccountFactory()
    for change in ({"user": superuser}, {"provider_id": "github"}):
        with pytest.raises(IntegrityError, match="account"), transaction.atomic():
            Account.objects.filter(pk=account.pk).update(**change)
    account.refresh_from_db()
    assert account.provider_id == "credential" and account.user_id != superuser.pk


def test_change_user_cannot_grant_superuser_or_take_an_identity(superuser):
    staff, client = staff_with("view_user", "change_user")
    permission = Permission.objects.get(codename="delete_organization")
    response = post_form(
        client,
        change_url(staff),
        is_superuser="on",
        email="root2@example.com",
        user_permissions=[str(permission.pk)],
        name="Still Staff",
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.name == "Still Staff"
    assert not staff.is_superuser and staff.email == "staff@example.com"
    assert not staff.user_permissions.filter(pk=permission.pk).exists()
    # A superuser's row, and anyone's password, are the superusers' to change.
    assert client.post(change_url(superuser), {"name": "x"}).status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[quote(superuser.pk)])
    assert client.get(password_url).status_code == 403
    other = UserFactory(email="plain@example.com")
    password_url = reverse("admin:auth_user_password_change", args=[quote(other.pk)])
    new = {"password1": "a-Long-pw-1", "password2": "a-Long-pw-1", "usable_password": "true"}
    assert client.post(password_url, new).status_code == 403
    other.refresh_from_db()
    assert not other.check_password("a-Long-pw-1")


@pytest.mark.parametrize(
    ("admin_class", "model", "fields"),
    [
        (SessionAdmin, Session, {"user", "impersonated_by", "active_organization", "active_team"}),
        (OrganizationAdmin, Organization, {"owner_user"}),
        (UserAdmin, User, {"is_staff", "is_superuser", "groups", "user_permissions", "email"}),
        (MemberAdmin, Member, {"user", "organization", "role", "status", "permissions"}),
    ],
    ids=["session", "organization", "user", "member"],
)
def test_identity_and_tenancy_fields_are_read_only_to_staff(admin_class, model, fields, superuser):
    from django.contrib import admin

    model_admin = admin_class(model, admin.site)
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, password="!")
    row = model()  # a change page (the user's add page asks for email and password only)
    assert fields <= set(model_admin.get_readonly_fields(request, row))
    request.user = superuser
    assert not fields & set(model_admin.get_readonly_fields(request, row))


def test_staff_cannot_send_an_existing_clients_codes_elsewhere(superuser):
    """A redirect URI added to a client that skips consent (or that users consented to)
    receives a signed-in user's authorization unasked: on an existing client the redirect
    URIs are superusers' only; staff still add clients with URIs of their choosing."""
    client_row = register_client(
        redirect_uris=["https://app.example.com/cb"],
        name="First-party app",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    ).client
    client_row.skip_consent = True
    client_row.save()
    _, staff = staff_with("view_oauthclient", "change_oauthclient", "add_oauthclient")
    uris = "https://app.example.com/cb\nhttps://attacker.example/cb"
    response = post_form(
        staff, change_url(client_row), redirect_uris=uris, post_logout_redirect_uris=uris
    )
    assert response.status_code == 302
    client_row.refresh_from_db()
    assert client_row.redirect_uris == ["https://app.example.com/cb"]
    assert not client_row.post_logout_redirect_uris
    assert staff.get(reverse("admin:beep_iam_oauthclient_add")).status_code == 200
    root = Client()
    root.force_login(superuser)
    response = post_form(root, change_url(client_row), redirect_uris=uris)
    assert response.status_code == 302
    client_row.refresh_from_db()
    assert client_row.redirect_uris == uris.split("\n")


def test_staff_cannot_add_sessions_or_memberships(superuser):
    _, client = staff_with("add_session", "add_member", "view_session", "view_member")
    assert client.get(reverse("admin:beep_shared_session_add")).status_code == 403
    assert client.get(reverse("admin:beep_iam_member_add")).status_code == 403


# -- item 14: "Work here" names nothing ---------------------------------------------------


def test_work_here_does_not_name_an_organization_to_staff_without_permission():
    secret = OrganizationFactory(name="Secret Merger Org")
    _, client = staff_with(email="nosy@example.com")
    response = client.post(f"/admin/beep_shared/organization/{secret.pk}/activate/", follow=True)
    assert "Secret Merger" not in response.content.decode()
    unknown = client.post(
        "/admin/beep_shared/organization/organization__0190a000-0000-7000-8000-000000000000"
        "/activate/",
        follow=True,
    )
    # The same answer as for an id that does not exist.
    assert response.status_code == unknown.status_code == 404


def test_staff_make_api_keys_for_themselves_only(superuser):
    from beep_iam.models import ApiKey
    from beep_shared.rls import tenant_context
    from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
    from tests.factories import MemberFactory

    staff, client = staff_with("add_apikey", "view_apikey", email="keymaker@example.com")
    org = OrganizationFactory(name="Key Org")
    MemberFactory(organization=org, user=staff)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = org.pk
    session.save()
    response = client.post(
        reverse("admin:beep_iam_apikey_add"),
        {
            "name": "As root?",
            "user": superuser.pk,
            "organization": org.pk,
            "enabled": "on",
            "rate_limit_enabled": "on",
            "rate_limit_time_window": 86400000,
            "rate_limit_max": 10,
        },
    )
    assert response.status_code == 200 and 'class="beep-secret"' in response.content.decode()
    with tenant_context(org):
        assert ApiKey.objects.get(name="As root?").user_id == staff.pk


def test_every_superuser_field_is_a_column_of_its_table():
    from django.contrib import admin

    from beep_shared.admin.permissions import superuser_field_problems

    assert [p for a in admin.site._registry.values() for p in superuser_field_problems(a)] == []

    class Misspelt(SessionAdmin):
        superuser_fields = ("active_organisation",)

    (problem,) = superuser_field_problems(Misspelt(Session, admin.site))
    assert problem.id == "beep_shared.E020" and "active_organisation" in problem.msg


@pytest.mark.parametrize("sessions", [0, 7])
def test_staff_cannot_bulk_delete_a_superuser_whatever_goes_with_them(monkeypatch, sessions):
    """The user admin asks per row (a superuser's row is a superuser's to delete); the delete
    confirmation that counts a large cascade (over LISTED_MAX rows, here 5) asks too."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from beep_shared.admin import deletion

    monkeypatch.setattr(deletion, "LISTED_MAX", 5)
    root = UserFactory(email="root2@example.com", is_staff=True, is_superuser=True, password="!")
    for _ in range(sessions):
        SessionFactory(user=root)
    _, staff = staff_with("view_user", "delete_user", "delete_session", "delete_account")
    response = staff.post(
        reverse("admin:beep_shared_user_changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [root.pk]},
    )
    assert response.status_code == 403
    assert User.objects.filter(pk=root.pk).exists()
