"""User, session and organization: managers, cascades and constraints in the database."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction

from beep_shared import crypto
from beep_shared.models import Organization, Session, User
from tests.factories import OrganizationFactory, SessionFactory, TeamFactory, UserFactory
from tests.sql import raw

pytestmark = pytest.mark.django_db


def refused(sql, params=()):
    """Run ``sql`` in a savepoint and return the database error it raised."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        raw(sql, params)
        # Deferred constraints fire at commit; force them inside the savepoint.
        raw("SET CONSTRAINTS ALL IMMEDIATE")
    return excinfo.value


def test_auth_user_model_is_the_beep_user():
    assert get_user_model() is User


def test_create_user_normalises_email_and_authenticates_by_it():
    user = User.objects.create_user("  Ann@Example.COM ", "s3cret-pass!", name="Ann")
    assert user.email == "ann@example.com"
    assert authenticate(username="ANN@example.com", password="s3cret-pass!") == user
    assert authenticate(username="ann@example.com", password="wrong") is None


def test_createsuperuser_command_works_with_email_login(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-password")
    call_command(
        "createsuperuser", "--noinput", "--email", "root@example.com", "--name", "Root", verbosity=0
    )
    admin = User.objects.get(email="root@example.com")
    assert admin.is_superuser and admin.is_staff and admin.role == "admin"
    assert admin.check_password("a-long-admin-password")


def test_email_is_unique_in_the_database():
    UserFactory(email="dup@example.com")
    refused('INSERT INTO "user" (name, email) VALUES (%s, %s)', ["X", "dup@example.com"])


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ('INSERT INTO "user" (name, email, role) VALUES (%s, %s, %s)', "user_role_valid"),
        (
            "INSERT INTO organization (name, slug, owner_user_id, type) VALUES (%s, %s, %s, %s)",
            "organization_type_valid",
        ),
        (
            "INSERT INTO organization (name, slug, owner_user_id, subscription_tier) "
            "VALUES (%s, %s, %s, %s)",
            "organization_subscription_tier_valid",
        ),
        (
            "INSERT INTO organization (name, slug, owner_user_id, subscription_status) "
            "VALUES (%s, %s, %s, %s)",
            "organization_subscription_status_valid",
        ),
    ],
)
def test_check_constraints_reject_unknown_enumeration_values(sql, constraint):
    user = UserFactory()
    params = (
        ["X", "x@example.com", "root"]
        if sql.startswith('INSERT INTO "user"')
        else ["Org", "org-x", user.pk, "bogus"]
    )
    error = refused(sql, params)
    assert constraint in str(error)


def test_session_expiry_must_be_after_creation():
    user = UserFactory()
    error = refused(
        "INSERT INTO session (token, expires_at, user_id) VALUES (%s, now() - interval '1 s', %s)",
        ["digest", user.pk],
    )
    assert "session_expires_after_created" in str(error)


def test_session_token_is_stored_as_a_digest_and_found_by_the_raw_token():
    user = UserFactory()
    session, raw_token = Session.objects.create_session(user, ip_address="127.0.0.1")
    assert session.token == crypto.digest(raw_token)
    assert raw_token not in str(raw("SELECT * FROM session"))
    assert Session.objects.get_by_token(raw_token) == session
    assert Session.objects.get_by_token(raw_token + "x") is None
    raw(
        "UPDATE session SET created_at = now() - interval '2 h', "
        "expires_at = now() - interval '1 h' WHERE id = %s",
        [session.pk],
    )
    assert Session.objects.get_by_token(raw_token) is None


def test_deleting_a_user_with_raw_sql_cascades_to_sessions_and_owned_orgs():
    user = UserFactory()
    SessionFactory(user=user)
    SessionFactory(user=user)
    OrganizationFactory(owner_user=user)
    other = SessionFactory()
    raw('DELETE FROM "user" WHERE id = %s', [user.pk])
    assert list(Session.objects.values_list("pk", flat=True)) == [other.pk]
    assert not Organization.objects.filter(owner_user_id=user.pk).exists()


def test_deleting_an_organization_with_raw_sql_clears_active_organization_and_team():
    org = OrganizationFactory()
    team = TeamFactory(organization=org)
    session = SessionFactory(active_organization=org, active_team=team)
    raw("DELETE FROM organization WHERE id = %s", [org.pk])
    session.refresh_from_db()
    assert session.active_organization_id is None
    assert session.active_team_id is None


def test_deleting_the_impersonator_keeps_the_session():
    admin = UserFactory()
    session = SessionFactory(impersonated_by=admin)
    raw('DELETE FROM "user" WHERE id = %s', [admin.pk])
    session.refresh_from_db()
    assert session.impersonated_by_id is None


def test_foreign_keys_are_enforced_by_the_database():
    refused(
        "INSERT INTO session (token, expires_at, user_id) "
        "VALUES (%s, now() + interval '1 day', %s)",
        ["t", "user__01a20079-5d89-7c46-97ad-22047c38d31c"],
    )


def test_orm_delete_still_collects_related_rows_in_python():
    user = UserFactory()
    SessionFactory(user=user)
    _deleted, per_model = user.delete()
    assert per_model.get("beep_shared.Session") == 1


def test_raw_delete_of_a_user_in_a_group_with_permissions_cascades():
    from django.contrib.auth.models import Group, Permission

    user = UserFactory()
    group = Group.objects.create(name="editors")
    user.groups.add(group)
    user.user_permissions.add(Permission.objects.first())
    raw('DELETE FROM "user" WHERE id = %s', [user.pk])
    raw("SET CONSTRAINTS ALL IMMEDIATE")
    assert raw("SELECT count(*) FROM user_groups") == [(0,)]
    assert raw("SELECT count(*) FROM user_user_permissions") == [(0,)]
    assert Group.objects.filter(pk=group.pk).exists()
