"""Admin workflows in a real browser: switching the organization as a staff user."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from tests.factories import MemberFactory, OrganizationFactory, TeamFactory, UserFactory

from .conftest import log_in, screenshot

STAFF_PASSWORD = "staff-password-for-the-browser"


def result_rows(page):
    return page.locator("#result_list tbody tr")


def switch_to(page, organization_name):
    page.goto("/admin/beep_shared/organization/")
    row = result_rows(page).filter(has_text=organization_name)
    row.get_by_role("link", name="work here").click()


def test_staff_user_sees_only_the_chosen_organizations_rows(anonymous_page):
    alpha = OrganizationFactory(name="Alpha Works")
    beta = OrganizationFactory(name="Beta Labs")
    OrganizationFactory(name="Gamma Corp")
    staff = UserFactory(email="staff-switch@example.com", is_staff=True)
    staff.set_password(STAFF_PASSWORD)
    staff.save()
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_organization", "view_team"])
    )
    MemberFactory(organization=alpha, user=staff)
    MemberFactory(organization=beta, user=staff)
    teams = {
        "Alpha Red": alpha,
        "Alpha Blue": alpha,
        "Beta Green": beta,
        "Gamma Gold": OrganizationFactory(name="Gamma Sister"),
    }
    for name, organization in teams.items():
        TeamFactory(organization=organization, name=name)

    page = anonymous_page
    log_in(page, staff.email, STAFF_PASSWORD)

    # No organization chosen: a staff user sees no tenant rows at all.
    page.goto("/admin/beep_shared/team/")
    expect(page.locator("#content")).to_contain_text("No organization chosen")
    expect(result_rows(page)).to_have_count(0)

    switch_to(page, "Alpha Works")
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Admin pages now show the rows of Alpha Works"
    )
    page.goto("/admin/beep_shared/team/")
    expect(page.locator("#content")).to_contain_text("Organization: Alpha Works")
    expect(result_rows(page)).to_have_count(2)
    for name in ("Alpha Red", "Alpha Blue"):
        expect(result_rows(page).filter(has_text=name)).to_have_count(1)
    screenshot(page, "admin-teams-of-one-organization")

    switch_to(page, "Beta Labs")
    page.goto("/admin/beep_shared/team/")
    expect(page.locator("#content")).to_contain_text("Organization: Beta Labs")
    expect(result_rows(page)).to_have_count(1)
    expect(result_rows(page)).to_contain_text("Beta Green")

    # Not a member of Gamma: refused, and the scope stays where it was.
    switch_to(page, "Gamma Corp")
    expect(page.locator("ul.messagelist")).to_contain_text(
        re.compile("neither a member nor the owner of Gamma Corp")
    )
    page.goto("/admin/beep_shared/team/")
    expect(page.locator("#content")).to_contain_text("Organization: Beta Labs")
    expect(result_rows(page)).to_have_count(1)
