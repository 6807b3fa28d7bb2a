"""Factories of the tenant-scoped IAM tables.

Each creates its row as the row's organization (see ``TenantModelFactory``); a factory whose
model has an organization-bound parent (team) takes the parent's organization.
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from beep_iam.models import (
    ApiKey,
    Invitation,
    Member,
    OrganizationRole,
    ScimProvider,
    SsoProvider,
    Subscription,
    TeamMember,
)
from beep_shared import crypto

from .shared import OrganizationFactory, TeamFactory, TenantModelFactory, UserFactory

__all__ = [
    "ApiKeyFactory",
    "InvitationFactory",
    "MemberFactory",
    "OrganizationRoleFactory",
    "ScimProviderFactory",
    "SsoProviderFactory",
    "SubscriptionFactory",
    "TeamMemberFactory",
    "TenantModelFactory",
]


def _digest() -> str:
    return crypto.digest(crypto.generate_token())


class MemberFactory(TenantModelFactory[Member]):
    class Meta:
        model = Member

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)


class TeamMemberFactory(TenantModelFactory[TeamMember]):
    class Meta:
        model = TeamMember

    team = factory.SubFactory(TeamFactory)
    organization = factory.SelfAttribute("team.organization")
    user = factory.SubFactory(UserFactory)


class InvitationFactory(TenantModelFactory[Invitation]):
    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    inviter = factory.SubFactory(UserFactory)


class OrganizationRoleFactory(TenantModelFactory[OrganizationRole]):
    class Meta:
        model = OrganizationRole

    organization = factory.SubFactory(OrganizationFactory)
    role = factory.Sequence(lambda n: f"role-{n}")
    permission = '{"project": ["read"]}'


class SubscriptionFactory(TenantModelFactory[Subscription]):
    class Meta:
        model = Subscription

    organization = factory.SubFactory(OrganizationFactory)
    plan = "pro"
    reference_id = factory.SelfAttribute("organization.id")


class ApiKeyFactory(TenantModelFactory[ApiKey]):
    """An API key of a user; ``organization=None`` makes a personal (NULL-org) key."""

    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    key = factory.LazyFunction(_digest)


class SsoProviderFactory(TenantModelFactory[SsoProvider]):
    class Meta:
        model = SsoProvider

    organization = factory.SubFactory(OrganizationFactory)
    issuer = "https://idp.example.com"
    provider_id = factory.Sequence(lambda n: f"sso-{n}")
    domain = factory.Sequence(lambda n: f"corp{n}.example.com")


class ScimProviderFactory(TenantModelFactory[ScimProvider]):
    class Meta:
        model = ScimProvider

    organization = factory.SubFactory(OrganizationFactory)
    provider_id = factory.Sequence(lambda n: f"scim-{n}")
    scim_token = factory.LazyFunction(_digest)
