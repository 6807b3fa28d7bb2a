"""Admin workflows in a real browser: OAuth clients and tokens (no secret on any page,
revoking tokens), and switching the organization as a staff user."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from beep_iam.models import OAuthAccessToken
from beep_shared import secrets
from tests.factories import (
    MemberFactory,
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthRefreshTokenFactory,
    OrganizationFactory,
    TeamFactory,
    UserFactory,
)

from .conftest import log_in, screenshot

STAFF_PASSWORD = "staff-password-for-the-browser"
RAW_SECRET = "browser-client-secret-raw"


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


@pytest.fixture(scope="module")
def oauth_rows(live_admin, django_db_blocker):
    """A client with a known raw secret, and tokens whose raw values are known."""
    with django_db_blocker.unblock():
        owner = UserFactory(email="client-owner@example.com", name="Client Owner")
        client = OAuthClientFactory(
            name="Acme Dashboard", raw_secret=RAW_SECRET, user=owner, client_id="acme-dashboard"
        )
        OAuthClientFactory(name="Beta Mobile App", client_id="beta-mobile", public_client=True)
        OAuthClientFactory(name="Partner Portal", client_id="partner-portal", user=owner)
        OAuthClientFactory(name="Legacy CLI", client_id="legacy-cli", disabled=True)
        user = UserFactory(email="token-user@example.com", name="Token User")
        raws = [secrets.generate_token() for _ in range(3)]
        tokens = [OAuthAccessTokenFactory(client=client, user=user, raw_token=raw) for raw in raws]
        refresh_raw = secrets.generate_token()
        refresh = OAuthRefreshTokenFactory(client=client, user=user, raw_token=refresh_raw)
    return {
        "client": client,
        "tokens": tokens,
        "refresh": refresh,
        "never_shown": [
            RAW_SECRET,
            secrets.digest(RAW_SECRET),
            refresh_raw,
            refresh.token,
            *raws,
            *(token.token for token in tokens),
        ],
    }


def assert_no_secret(page, never_shown):
    html = page.content()
    leaked = [value for value in never_shown if value in html]
    assert leaked == [], f"secret values on {page.url}"


def test_client_and_token_pages_show_no_secret(admin_page, oauth_rows):
    page, token = admin_page, oauth_rows["tokens"][0]

    page.goto("/admin/beep_iam/oauthclient/")
    row = page.locator("#result_list tbody tr", has_text="Acme Dashboard")
    expect(row).to_contain_text("acme-dashboard")
    expect(row.locator("td.field-secret")).to_have_text("set")
    screenshot(page, "admin-oauth-clients")
    assert_no_secret(page, oauth_rows["never_shown"])

    row.get_by_role("link", name="Acme Dashboard").click()
    expect(page.locator("#content h1")).to_have_text("Change OAuth client")
    expect(page.locator(".field-client_id")).to_contain_text("acme-dashboard")
    expect(page.locator("input[name=client_secret]")).to_have_count(0)
    screenshot(page, "admin-oauth-client-change")
    assert_no_secret(page, oauth_rows["never_shown"])

    page.goto("/admin/beep_iam/oauthaccesstoken/")
    expect(page.locator("#result_list tbody tr", has_text=token.pk)).to_have_count(1)
    screenshot(page, "admin-oauth-access-tokens")
    assert_no_secret(page, oauth_rows["never_shown"])

    page.locator("#result_list a", has_text=token.pk).click()
    expect(page.locator("#content h1")).to_have_text(re.compile("View OAuth access token", re.I))
    expect(page.locator("#content")).to_contain_text("acme-dashboard")
    screenshot(page, "admin-oauth-access-token-view")
    assert_no_secret(page, oauth_rows["never_shown"])

    page.goto("/admin/beep_iam/oauthrefreshtoken/")
    page.locator("#result_list a", has_text=oauth_rows["refresh"].pk).click()
    expect(page.locator("#content h1")).to_have_text(re.compile("View OAuth refresh token", re.I))
    assert_no_secret(page, oauth_rows["never_shown"])


def test_revoke_tokens_action(admin_page, oauth_rows):
    page = admin_page
    first, second, third = oauth_rows["tokens"]

    page.goto("/admin/beep_iam/oauthaccesstoken/?q=acme-dashboard")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    for token in (first, second):
        rows.filter(has_text=token.pk).locator("input.action-select").check()
    expect(page.locator(".action-counter")).to_have_text(re.compile(r"2 of 3 selected"))
    page.select_option("select[name=action]", label="Revoke selected tokens")
    page.click(".actions button[name=index]")

    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 2 token(s).")
    revoked = {t.pk for t in OAuthAccessToken.objects.filter(revoked__isnull=False)}
    assert revoked == {first.pk, second.pk}

    # The state filter now tells the revoked tokens from the active one.
    page.locator('#changelist-filter a:text-is("Revoked")').click()
    expect(page).to_have_url(re.compile(r"state=revoked"))
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=third.pk)).to_have_count(0)
