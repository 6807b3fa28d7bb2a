"""What the database derives or accepts for better-auth (no Node needed)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from beep_iam.models import Invitation, Member, OAuthAccessToken, OAuthClientAssertion, TeamMember
from beep_iam.services import oauth_tokens
from beep_shared.models import Organization, Session, Team
from beep_shared.rls import tenant_context
from tests.factories import OrganizationFactory, TeamFactory, UserFactory
from tests.factories.oauth import OAuthAccessTokenFactory
from tests.factories.tenant import InvitationFactory
from tests.sql import raw

pytestmark = pytest.mark.django_db


def better_auth_membership_key(team_id: str, user_id: str) -> str:
    """better-auth 1.7's computeTeamMembershipKey: base64url SHA-256 of [teamId, userId]."""
    digest = hashlib.sha256(json.dumps([team_id, user_id], separators=(",", ":")).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def test_team_without_slug_gets_one_from_its_name():
    org = OrganizationFactory.create()
    with tenant_context(org):
        raw(
            "INSERT INTO team (organization_id, name) VALUES (%s, %s), (%s, %s)",
            [org.pk, "Platform & Infra", org.pk, "***"],
        )
        teams = {t.name: t for t in Team.objects.all()}
        for team in teams.values():
            team.full_clean()
    assert teams["Platform & Infra"].slug == f"platform-infra-{teams['Platform & Infra'].pk[-8:]}"
    assert teams["***"].slug == f"team-{teams['***'].pk[-8:]}"


def test_team_member_gets_its_team_organization_and_better_auth_key():
    team = TeamFactory.create()
    user = UserFactory.create()
    with tenant_context(team.organization):
        raw("INSERT INTO team_member (team_id, user_id) VALUES (%s, %s)", [team.pk, user.pk])
        member = TeamMember.objects.get(team=team)
        member.full_clean()
    assert member.organization_id == team.organization_id
    assert member.membership_key == better_auth_membership_key(team.pk, user.pk)


def test_derived_columns_default_to_empty_and_the_trigger_replaces_it():
    """What Drizzle sends for the columns better-auth leaves out (DEFAULT), and the ORM."""
    team = TeamFactory.create()
    user = UserFactory.create()
    with tenant_context(team.organization):
        raw(
            "INSERT INTO team (organization_id, name, slug) VALUES (%s, 'Ops', DEFAULT)",
            [team.organization_id],
        )
        raw(
            "INSERT INTO team_member (team_id, user_id, organization_id) VALUES (%s, %s, DEFAULT)",
            [team.pk, user.pk],
        )
        ops = Team.objects.get(name="Ops")
        member = TeamMember.objects.get(team=team, user=user)
        created = Team.objects.create(organization=team.organization, name="Sales")
    assert ops.slug == f"ops-{ops.pk[-8:]}"
    assert member.organization_id == team.organization_id
    assert created.slug == f"sales-{created.pk[-8:]}"  # returned by the INSERT


def test_owner_membership_fills_in_the_organization_owner():
    user = UserFactory.create()
    raw("INSERT INTO organization (name, slug) VALUES ('Acme', 'acme')")
    org = Organization.objects.get(slug="acme")
    assert org.owner_user_id is None
    with tenant_context(org):
        Member.objects.create(organization=org, user=UserFactory.create(), role="member")
        Member.objects.create(organization=org, user=user, role="owner")
        Member.objects.create(organization=org, user=UserFactory.create(), role="owner")
    org.refresh_from_db()
    assert org.owner_user_id == user.pk  # the first owner; later ones change nothing
    org.full_clean()


def test_session_ip_address_empty_is_null_and_garbage_is_refused():
    user = UserFactory.create()
    insert = (
        "INSERT INTO session (token, expires_at, user_id, ip_address) "
        "VALUES (%s, now() + interval '1 day', %s, %s) RETURNING id"
    )
    empty = raw(insert, ["t1", user.pk, ""])[0][0]
    mapped = raw(insert, ["t2", user.pk, "::ffff:192.0.2.1"])[0][0]
    assert Session.objects.get(pk=empty).ip_address is None
    session = Session.objects.get(pk=mapped)
    session.full_clean()
    assert session.ip_address == "::ffff:192.0.2.1"
    with pytest.raises(DataError), transaction.atomic():
        raw(insert, ["t3", user.pk, "not-an-ip"])


def test_invitation_accepts_better_auths_canceled():
    invitation = InvitationFactory()
    with tenant_context(invitation.organization):
        Invitation.objects.filter(pk=invitation.pk).update(status="canceled")
        invitation.refresh_from_db()
        invitation.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            Invitation.objects.filter(pk=invitation.pk).update(status="withdrawn")


def test_revoking_an_access_token_also_ends_it():
    """better-auth 1.4 judges access tokens by expires_at alone (it has no revoked column)."""
    token = OAuthAccessTokenFactory(raw_token="raw-access-token")
    assert oauth_tokens.revoke_token("raw-access-token", client_id=token.client_id)
    token.refresh_from_db()
    assert token.revoked is not None and token.expires_at == token.revoked
    # An expiry already earlier than the revocation stays as it was.
    earlier = timezone.now() - timedelta(hours=2)
    old = OAuthAccessTokenFactory(expires_at=earlier)
    OAuthAccessToken.objects.filter(pk=old.pk).update(revoked=timezone.now())
    old.refresh_from_db()
    assert old.expires_at == earlier


def test_revoked_access_tokens_keep_the_retention_after_the_trigger_ends_them():
    token = OAuthAccessTokenFactory(raw_token="kept")
    oauth_tokens.revoke_token("kept", client_id=token.client_id)
    call_command("purge_expired_tokens", stdout=StringIO())
    assert OAuthAccessToken.objects.filter(pk=token.pk).exists()


def test_purge_deletes_expired_client_assertions():
    now = timezone.now()
    OAuthClientAssertion.objects.create(id="expired-jti-digest", expires_at=now - timedelta(1))
    OAuthClientAssertion.objects.create(id="live-jti-digest", expires_at=now + timedelta(1))
    out = StringIO()
    call_command("purge_expired_tokens", stdout=out)
    assert list(OAuthClientAssertion.objects.values_list("id", flat=True)) == ["live-jti-digest"]
    assert "oauth_client_assertion.expired" in out.getvalue()
