"""Admin workflows in a real browser: OAuth clients and tokens (no secret on any page,
revoking tokens), and switching the organization as a staff user."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from beep_iam.models import OAuthAccessToken, OAuthClient
from beep_iam.services.oauth_clients import authenticate_client
from beep_iam.services.oauth_errors import InvalidClient
from beep_shared import crypto
from beep_shared.models import Organization
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
    row.get_by_role("button", name="Work here").click()


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

    # The list marks the active organization and offers Gamma, which is not theirs, nothing.
    page.goto("/admin/beep_shared/organization/")
    expect(
        result_rows(page).filter(has_text="Beta Labs").locator(".beep-active-marker")
    ).to_have_text("Active")
    gamma = result_rows(page).filter(has_text="Gamma Corp")
    expect(gamma.get_by_role("button")).to_have_count(0)
    screenshot(page, "admin-organizations-switcher")

    # A forged switch (no CSRF token) is refused and changes nothing.
    gamma_id = Organization.objects.get(name="Gamma Corp").pk
    status = page.evaluate(
        "url => fetch(url, {method: 'POST', credentials: 'same-origin'}).then(r => r.status)",
        f"/admin/beep_shared/organization/{gamma_id}/activate/",
    )
    assert status == 403
    page.goto("/admin/beep_shared/team/")
    expect(page.locator("#beep-scope")).to_contain_text("Organization: Beta Labs")
    expect(result_rows(page)).to_have_count(1)

    # Leaving, from the header of any list: no organization, no tenant rows.
    page.locator("#beep-scope").get_by_role("button", name="Leave").click()
    expect(page.locator("ul.messagelist")).to_contain_text("No organization chosen")
    expect(page.locator("#beep-scope")).to_have_text("No organization")
    expect(result_rows(page)).to_have_count(0)


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
        raws = [crypto.generate_token() for _ in range(3)]
        tokens = [OAuthAccessTokenFactory(client=client, user=user, raw_token=raw) for raw in raws]
        refresh_raw = crypto.generate_token()
        refresh = OAuthRefreshTokenFactory(client=client, user=user, raw_token=refresh_raw)
    return {
        "client": client,
        "tokens": tokens,
        "refresh": refresh,
        "never_shown": [
            RAW_SECRET,
            crypto.digest(RAW_SECRET),
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
    expect(page.locator(f'#result_list input.action-select[value="{token.pk}"]')).to_have_count(1)
    screenshot(page, "admin-oauth-access-tokens")
    assert_no_secret(page, oauth_rows["never_shown"])

    page.locator(f'#result_list a[href*="{quote(token.pk)}"]').first.click()
    expect(page.locator("#content h1")).to_have_text(re.compile("View OAuth access token", re.I))
    expect(page.locator("#content")).to_contain_text("Acme Dashboard")
    screenshot(page, "admin-oauth-access-token-view")
    assert_no_secret(page, oauth_rows["never_shown"])

    page.goto("/admin/beep_iam/oauthrefreshtoken/")
    page.locator(f'#result_list a[href*="{quote(oauth_rows["refresh"].pk)}"]').first.click()
    expect(page.locator("#content h1")).to_have_text(re.compile("View OAuth refresh token", re.I))
    assert_no_secret(page, oauth_rows["never_shown"])


def test_revoke_tokens_action(admin_page, oauth_rows):
    page = admin_page
    first, second, third = oauth_rows["tokens"]

    page.goto("/admin/beep_iam/oauthaccesstoken/?q=acme-dashboard")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    for token in (first, second):
        page.locator(f'input.action-select[value="{token.pk}"]').check()
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
    expect(page.locator(f'input.action-select[value="{third.pk}"]')).to_have_count(0)


# -- one-time secrets ---------------------------------------------------------------------


def secret_shown(page):
    box = page.locator("code.beep-secret")
    expect(box).to_have_count(1)
    return box.inner_text().strip()


def assert_in_no_cookie(page, raw):
    cookies = page.context.cookies()
    assert cookies, "the logged-in browser has cookies"
    assert not [c["name"] for c in cookies if raw in c["value"]], "a cookie carries the secret"


def assert_gone_on_reload(page, raw):
    """Reload and going back show the object's page (the history entry was replaced), and
    the secret is nowhere in it."""
    # The deferred script has replaced the history entry (else a reload posts the form again:
    # a race on a loaded machine, where the heading is in the page before the script runs).
    expect(page).to_have_url(re.compile(r"/change/$"))
    page.reload()
    expect(page.locator("#content h1")).to_have_text(re.compile("^Change "))
    expect(page.locator(".field-id")).to_be_attached()  # the change page itself
    assert raw not in page.content()
    page.go_back()
    page.wait_for_load_state()
    assert raw not in page.content()
    assert_in_no_cookie(page, raw)


def test_register_a_client_and_see_its_secret_once(admin_page):
    page = admin_page
    page.goto("/admin/beep_iam/oauthclient/add/")
    page.fill("#id_name", "Browser Registered App")
    page.fill("#id_redirect_uris", "https://app.example.com/callback\nhttps://app.example.com/cb2")
    page.check('input[name=grant_types][value="refresh_token"]')
    page.fill("#id_scopes", "openid\nprofile")
    page.click("input[name=_save]")

    expect(page.locator("#content h1")).to_contain_text("OAuth client registered")
    raw = secret_shown(page)
    client = OAuthClient.objects.get(name="Browser Registered App")
    expect(page.locator("#content")).to_contain_text(client.client_id)
    assert authenticate_client(client.client_id, raw) == client
    assert client.redirect_uris == [
        "https://app.example.com/callback",
        "https://app.example.com/cb2",
    ]
    assert_in_no_cookie(page, raw)
    screenshot(page, "admin-oauth-client-registered")
    assert_gone_on_reload(page, raw)


def test_registration_refuses_what_the_service_refuses(admin_page):
    page = admin_page
    page.goto("/admin/beep_iam/oauthclient/add/")
    page.fill("#id_name", "Insecure App")
    page.fill("#id_redirect_uris", "http://insecure.example.com/cb")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-redirect_uris .errorlist")).to_contain_text("must use https")
    assert not OAuthClient.objects.filter(name="Insecure App").exists()


def test_rotate_a_client_secret_from_its_page(admin_page):
    client = OAuthClientFactory(name="Rotated App", raw_secret="secret-before-rotation")
    page = admin_page
    page.goto(f"/admin/beep_iam/oauthclient/{quote(client.pk)}/change/")
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#content h1")).to_contain_text("Secret rotated")
    raw = secret_shown(page)
    assert raw != "secret-before-rotation"
    assert authenticate_client(client.client_id, raw) == client
    with pytest.raises(InvalidClient):
        authenticate_client(client.client_id, "secret-before-rotation")
    assert_in_no_cookie(page, raw)
    screenshot(page, "admin-oauth-client-secret-rotated")
    assert_gone_on_reload(page, raw)


def test_api_key_is_shown_once_and_never_in_a_cookie(admin_page, live_admin):
    organization = OrganizationFactory(name="Key Holder Org")
    page = admin_page
    page.goto("/admin/beep_iam/apikey/add/")
    page.fill("#id_name", "Deploy key")
    page.fill("#id_user", live_admin.user.pk)
    page.fill("#id_organization", organization.pk)
    page.click("input[name=_save]")
    expect(page.locator("#content h1")).to_contain_text("API key created")
    raw = secret_shown(page)
    assert_in_no_cookie(page, raw)
    assert_gone_on_reload(page, raw)


# -- revoking and navigating ---------------------------------------------------------------


def test_revoke_a_token_from_its_page(admin_page):
    token = OAuthAccessTokenFactory()
    page = admin_page
    page.goto(f"/admin/beep_iam/oauthaccesstoken/{quote(token.pk)}/change/")
    screenshot(page, "admin-oauth-access-token-view")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 1 token(s).")
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    token.refresh_from_db()
    assert token.revoked is not None


def test_follow_links_from_an_organization_to_a_members_tokens(admin_page):
    acme = OrganizationFactory(name="Acme Navigation")
    alice = UserFactory(email="alice-navigation@example.com", name="Alice Navigation")
    MemberFactory(organization=acme, user=alice, role="admin")
    MemberFactory(organization=OrganizationFactory(name="Other Navigation"))
    token = OAuthAccessTokenFactory(user=alice, client=OAuthClientFactory(name="Alice's App"))
    OAuthAccessTokenFactory()

    page = admin_page
    page.goto(f"/admin/beep_shared/organization/{quote(acme.pk)}/change/")
    screenshot(page, "admin-organization-change")
    page.locator(".beep-related").get_by_role("link", name="Members").click()
    expect(result_rows(page)).to_have_count(1)
    expect(page.locator("#changelist-filter")).to_contain_text("Acme Navigation")
    screenshot(page, "admin-organization-members")

    result_rows(page).get_by_role("link", name="alice-navigation@example.com").click()
    expect(page.locator("#content h2").first).to_have_text("alice-navigation@example.com")
    screenshot(page, "admin-user-change")
    page.locator(".beep-related").get_by_role("link", name="Access tokens").click()
    expect(result_rows(page)).to_have_count(1)
    expect(page.locator(f'input.action-select[value="{token.pk}"]')).to_have_count(1)
    expect(result_rows(page)).to_contain_text("Alice's App")
    screenshot(page, "admin-user-access-tokens")
