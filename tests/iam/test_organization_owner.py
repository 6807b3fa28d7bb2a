"""``organization.owner_user_id`` lets its user work in the organization
(``may_work_in``); better-auth never writes it, the first owner membership fills it in, and
when that owner's membership ends it passes to the oldest remaining active owner, or to none.
Security review 14: a removed, demoted or suspended former owner kept the organization's
rows through their session, the admin's switcher and tokens granted for it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from beep_iam.models import Member, MemberStatus
from beep_shared.models import Organization
from beep_shared.rls import tenant_context
from beep_shared.rls.access import may_work_in
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def better_auth_organization(owner):
    """As better-auth makes one: the organization, then its owner's membership."""
    organization = OrganizationFactory.create(owner_user=None)
    with tenant_context(organization):
        membership = Member.objects.create(organization=organization, user=owner, role="owner")
    organization.refresh_from_db()
    assert organization.owner_user_id == owner.pk
    return organization, membership


def owner_of(organization) -> str | None:
    return Organization.objects.get(pk=organization.pk).owner_user_id


@pytest.mark.parametrize(
    ("ending", "still_a_member"),
    [
        ({"deleted": True}, False),  # remove-member, leave
        ({"status": MemberStatus.SUSPENDED}, False),
        ({"deleted_at": "now"}, False),  # a soft-deleted membership grants nothing either
        ({"role": "admin"}, True),  # no longer the owner, still an active member
    ],
)
def test_the_owner_whose_membership_ends_no_longer_owns_it(ending, still_a_member):
    alice = UserFactory.create()
    organization, membership = better_auth_organization(alice)
    with tenant_context(organization):
        rows = Member.objects.filter(pk=membership.pk)
        if ending.pop("deleted", False):
            rows.delete()
        else:
            rows.update(**{k: timezone.now() if v == "now" else v for k, v in ending.items()})
    assert owner_of(organization) is None
    assert may_work_in(alice, organization) is still_a_member


def test_ownership_passes_to_the_oldest_remaining_active_owner():
    alice, bob, carol, dave = (
        UserFactory.create(),
        UserFactory.create(),
        UserFactory.create(),
        UserFactory.create(),
    )
    organization, membership = better_auth_organization(alice)
    with tenant_context(organization):
        Member.objects.create(organization=organization, user=bob, role="owner")
        Member.objects.create(
            organization=organization, user=dave, role="owner", status=MemberStatus.SUSPENDED
        )
        Member.objects.create(organization=organization, user=carol, role="owner")
        Member.objects.filter(pk=membership.pk).update(role="member", status="suspended")
    assert owner_of(organization) == bob.pk
    assert not may_work_in(alice, organization)
    assert may_work_in(bob, organization)


def test_another_members_change_leaves_the_owner_alone():
    alice, bob = UserFactory.create(), UserFactory.create()
    organization, _ = better_auth_organization(alice)
    with tenant_context(organization):
        other = Member.objects.create(organization=organization, user=bob, role="owner")
        Member.objects.filter(pk=other.pk).delete()
        Member.objects.create(organization=organization, user=bob, role="member")
        Member.objects.filter(user=bob).update(status=MemberStatus.SUSPENDED)
    assert owner_of(organization) == alice.pk


def test_an_owner_set_without_a_membership_keeps_working_there():
    # Django may make an organization with its owner and no member row (the admin does).
    alice = UserFactory.create()
    organization = OrganizationFactory.create(owner_user=alice)
    assert may_work_in(alice, organization)
