"""The tenant-scoped tables: columns, checks, digests and deletes under RLS."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from beep_iam.models import (
    ApiKey,
    Invitation,
    InvitationStatus,
    Member,
    ScimProvider,
    Subscription,
    TeamMember,
)
from beep_shared import crypto
from beep_shared.models import Organization, Session, Team
from beep_shared.rls import bypass_rls, tenant_context
from tests.factories import (
    ApiKeyFactory,
    InvitationFactory,
    MemberFactory,
    OrganizationFactory,
    OrganizationRoleFactory,
    ScimProviderFactory,
    SessionFactory,
    SsoProviderFactory,
    SubscriptionFactory,
    TeamFactory,
    TeamMemberFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def org():
    return OrganizationFactory.create()


def run(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def test_factories_create_rows_without_a_tenant_in_sight():
    for factory in (
        TeamFactory,
        MemberFactory,
        TeamMemberFactory,
        InvitationFactory,
        OrganizationRoleFactory,
        SubscriptionFactory,
        ApiKeyFactory,
        SsoProviderFactory,
        ScimProviderFactory,
    ):
        row: Any = factory.create()
        with tenant_context(row.organization):
            assert type(row)._default_manager.filter(pk=row.pk).exists()
    personal = ApiKeyFactory.create(organization=None)
    assert ApiKey.objects.filter(pk=personal.pk).exists()  # NULL rows: visible to all


def test_raw_inserts_get_the_reference_defaults(org):
    user = UserFactory.create()
    with tenant_context(org):
        (member,) = run(
            "INSERT INTO member (organization_id, user_id) VALUES (%s, %s) "
            "RETURNING role, status, version",
            [org.pk, user.pk],
        )
        (key,) = run(
            "INSERT INTO apikey (organization_id, user_id, key) VALUES (%s, %s, 'd') "
            "RETURNING enabled, rate_limit_enabled, rate_limit_time_window, rate_limit_max",
            [org.pk, user.pk],
        )
        (subscription,) = run(
            "INSERT INTO subscription (organization_id, plan, reference_id) "
            "VALUES (%s, 'pro', 'r') RETURNING status, cancel_at_period_end",
            [org.pk],
        )
    assert member == ("member", "active", 1)
    assert key == (True, True, 86_400_000, 10)
    assert subscription == ("incomplete", False)


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        (
            "INSERT INTO member (organization_id, user_id, role) VALUES (%s, %s, 'boss')",
            "member_role_valid",
        ),
        (
            "INSERT INTO member (organization_id, user_id, status) VALUES (%s, %s, 'gone')",
            "member_status_valid",
        ),
        (
            "INSERT INTO invitation (organization_id, inviter_id, email, expires_at, status) "
            "VALUES (%s, %s, 'a@b.c', now(), 'maybe')",
            "invitation_status_valid",
        ),
        (
            "INSERT INTO subscription (organization_id, plan, reference_id, status, seats) "
            "VALUES (%s, 'p', %s, 'sleeping', 1)",
            "subscription_status_valid",
        ),
        (
            "INSERT INTO subscription (organization_id, plan, reference_id, seats) "
            "VALUES (%s, 'p', %s, -1)",
            "subscription_seats_non_negative",
        ),
        (
            "INSERT INTO apikey (organization_id, user_id, key, request_count) "
            "VALUES (%s, %s, 'k', -1)",
            "apikey_request_count_non_negative",
        ),
        (
            "INSERT INTO apikey (organization_id, user_id, key, remaining) "
            "VALUES (%s, %s, 'k', -1)",
            "apikey_remaining_non_negative",
        ),
        (
            "INSERT INTO apikey (organization_id, user_id, key, refill_amount) "
            "VALUES (%s, %s, 'k', -5)",
            "apikey_refill_amount_non_negative",
        ),
        (
            "INSERT INTO apikey (organization_id, user_id, key, rate_limit_time_window) "
            "VALUES (%s, %s, 'k', 0)",
            "apikey_rate_limit_time_window_positive",
        ),
        (
            "INSERT INTO apikey (organization_id, user_id, key, rate_limit_max) "
            "VALUES (%s, %s, 'k', 0)",
            "apikey_rate_limit_max_positive",
        ),
    ],
)
def test_checks_reject_values_the_models_would_reject(org, sql, constraint):
    user = UserFactory.create()
    with tenant_context(org), pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        run(sql, [org.pk, user.pk])


def test_unique_rules(org):
    member = MemberFactory.create(organization=org)
    with tenant_context(org):
        with pytest.raises(IntegrityError, match="member_org_user_key"), transaction.atomic():
            Member.objects.create(organization=org, user=member.user)
        invitation = InvitationFactory.create(organization=org, email="x@example.com")
        with (
            pytest.raises(IntegrityError, match="invitation_org_email_pending_key"),
            transaction.atomic(),
        ):
            InvitationFactory.create(organization=org, email="x@example.com")
        Invitation.objects.filter(pk=invitation.pk).update(status=InvitationStatus.ACCEPTED)
        InvitationFactory.create(organization=org, email="x@example.com")  # only one *pending*


def test_api_keys_are_stored_as_digests_and_found_by_the_raw_key(org):
    with tenant_context(org):
        key, raw = ApiKey.objects.create_key(UserFactory.create(), prefix="bk_", organization=org)
        assert raw.startswith("bk_") and key.start == raw[:6]
        assert key.key == crypto.digest(raw) and raw not in key.key
        assert ApiKey.objects.get_by_key(raw) == key
        assert ApiKey.objects.get_by_key(raw + "x") is None
    assert key.key not in f"{key} {key!r}"
    assert ApiKey.objects.get_by_key(raw) is None  # another tenant (none) can't use it


def test_scim_tokens_are_stored_as_digests(org):
    with tenant_context(org):
        provider, raw = ScimProvider.objects.create_provider("okta", organization=org)
        assert crypto.matches(raw, provider.scim_token) and raw != provider.scim_token
        assert ScimProvider.objects.get_by_token(raw) == provider
    assert provider.scim_token not in f"{provider} {provider!r}"


def test_team_members_belong_to_their_teams_organization(org):
    team = TeamFactory.create(organization=org)
    other = TeamFactory.create()
    with tenant_context(org):
        member = TeamMember(team=team, user=UserFactory.create())
        member.save()
        assert member.organization_id == org.pk
        wrong = TeamMember(team=other, user=UserFactory.create(), organization=org)
    with bypass_rls(), pytest.raises(ValidationError, match="team must belong"):
        wrong.full_clean()


def test_subscription_and_org_indexes(org):
    indexes = {
        name
        for (name,) in run(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('team_member','invitation','subscription','apikey',"
            "'sso_provider','scim_provider','member','team')"
        )
    }
    assert {
        "team_member_org_idx",
        "invitation_org_idx",
        "subscription_org_idx",
        "apikey_org_idx",
        "sso_provider_org_idx",
        "scim_provider_org_idx",
    } <= indexes
    # Tables whose unique constraint already starts with organization_id get no extra one.
    assert not {"member_org_idx", "team_org_idx"} & indexes


def test_the_policy_predicate_is_used_as_an_index_condition(org):
    SubscriptionFactory.create(organization=org)
    with tenant_context(org):
        run("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in run("EXPLAIN SELECT * FROM subscription"))
    assert "Index Cond: (organization_id = NULLIF(current_setting('app.current_org_id'" in plan


def test_deleting_users_and_organizations_works_under_rls():
    owner, user = UserFactory.create(), UserFactory.create()
    org, other = OrganizationFactory.create(owner_user=owner), OrganizationFactory.create()
    team = TeamFactory.create(organization=org)
    MemberFactory.create(organization=org, user=user)
    MemberFactory.create(organization=other, user=user)
    TeamMemberFactory.create(team=team, user=user)
    ApiKeyFactory.create(organization=other, user=user)
    session = SessionFactory.create(user=owner, active_organization=org, active_team=team)

    # Django's collector sees no tenant rows here; the database cascades do the rest.
    user.delete()
    with bypass_rls():
        assert not Member.objects.filter(user_id=user.pk).exists()
        assert not ApiKey.objects.filter(user_id=user.pk).exists()
        assert Member.objects.count() == 0 and TeamMember.objects.count() == 0

    with tenant_context(org):
        org.delete()
    with bypass_rls():
        assert not Team.objects.filter(organization_id=org.pk).exists()
        assert Subscription.objects.filter(organization_id=org.pk).count() == 0
    session.refresh_from_db()
    assert (session.active_organization_id, session.active_team_id) == (None, None)
    assert Organization.objects.filter(pk=other.pk).exists()
    assert Session.objects.filter(pk=session.pk).exists()
