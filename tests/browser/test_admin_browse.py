"""Every registered beep model's changelist and change page, opened in a real browser."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from playwright.sync_api import expect

from beep_shared.db import show_once
from tests.admin.test_admin_pages import factory_for
from tests.factories import OrganizationFactory, UserFactory

from .conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VIEWPORT,
    horizontal_overflow,
    log_in,
    screenshot,
)

BEEP_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label.startswith("beep_")),
    key=lambda model: model._meta.label,
)


def secret_fields(model):
    """Columns holding secrets or their digests: every SecretField, and every column
    documented as a digest (in case one was declared without the field class)."""
    names = {field.name for field in show_once.secret_fields(model)}
    names |= {f.name for f in model._meta.concrete_fields if "digest" in str(f.help_text)}
    return names


def secret_values(obj):
    values = [getattr(obj, name, None) for name in secret_fields(type(obj))]
    return [value for value in values if isinstance(value, str) and len(value) >= 8]


def test_secret_columns_are_known():
    # Guards secret_fields() against a renamed convention: these must stay recognised.
    from beep_iam.models import ApiKey, ScimProvider
    from beep_shared.models import Session

    assert "token" in secret_fields(Session)
    assert "key" in secret_fields(ApiKey)
    assert "scim_token" in secret_fields(ScimProvider)


@pytest.fixture(scope="module")
def rows(live_admin, django_db_blocker):
    """One row of each model, committed for the server to see."""
    with django_db_blocker.unblock():
        made = {model: factory_for(model)() for model in BEEP_MODELS}
    return {**made, "superuser": live_admin.user}


def test_login_form_rejects_a_wrong_password_then_logs_in(anonymous_page):
    page = anonymous_page
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    page.fill("#id_username", ADMIN_EMAIL)
    page.fill("#id_password", "not the password")
    page.click("#login-form input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("Please enter the correct email")
    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.locator("#content h1")).to_have_text("Site administration")


# An entity id such as "member__01a232dc-...": what a title must not show where a name exists.
ENTITY_ID = re.compile(r"[a-z_]+__[0-9a-f]{8}-[0-9a-f]{4}-")
# Rows whose only name is their id, or a key the admin is about (no other identity).
NAMED_BY_ID = {"beep_iam.Jwks"}


# Whether the text of the page's heading overlaps the object tools (History, ...).
HEADING_UNDER_TOOLS = """() => {
  const heading = document.querySelector("#content h2");
  const tools = document.querySelector(".object-tools");
  if (!heading || !tools) return false;
  const range = document.createRange();
  range.selectNodeContents(heading);
  const a = range.getBoundingClientRect(), b = tools.getBoundingClientRect();
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}"""


def assert_fits_the_window(page, what):
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{what} is {overflow} px wider than the {VIEWPORT[0]} px window"


def assert_named(page, obj, label):
    title = page.title()
    heading = page.locator("#content h2").first.inner_text()
    if label not in NAMED_BY_ID:
        assert not ENTITY_ID.search(title), f"{label}: raw id in the title {title!r}"
        assert not ENTITY_ID.search(heading), f"{label}: raw id in the heading {heading!r}"
    assert heading == str(obj)


@pytest.mark.parametrize("model", BEEP_MODELS, ids=lambda model: model._meta.label)
def test_changelist_add_and_change_page(admin_page, rows, model):
    opts = model._meta
    obj = rows[model]
    page = admin_page
    name = re.escape(str(opts.verbose_name))
    slug = opts.label.replace(".", "-").lower()

    page.goto(f"/admin/{opts.app_label}/{opts.model_name}/")
    expect(page.locator("#content h1")).to_have_text(re.compile(rf"Select {name} to (change|view)"))
    link = page.locator(f'#result_list a[href$="/{quote(obj.pk)}/change/"]')
    expect(link).to_have_count(1)
    secrets = secret_values(obj)
    listed = page.content()
    assert not [s for s in secrets if s in listed], f"{opts.label}: a secret in the list"
    assert not ENTITY_ID.search(page.title())
    assert_fits_the_window(page, f"the {opts.label} list")
    screenshot(page, f"pages/{slug}-list")

    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(_request_of(rows["superuser"])):
        page.goto(f"/admin/{opts.app_label}/{opts.model_name}/add/")
        expect(page.locator("#content h1")).to_have_text(re.compile(rf"Add {name}"))
        assert_fits_the_window(page, f"the {opts.label} add page")
        screenshot(page, f"pages/{slug}-add")

    page.goto(f"/admin/{opts.app_label}/{opts.model_name}/")
    link.click()
    expect(page.locator("#content h1")).to_have_text(re.compile(rf"(Change|View) {name}"))
    assert_named(page, obj, opts.label)
    html = page.content()
    assert obj.pk in html  # the collapsed audit fieldset shows the entity id
    assert not [s for s in secrets if s in html], f"{opts.label}: a secret on the change page"
    # The heading stays clear of the History button.
    assert not page.evaluate(HEADING_UNDER_TOOLS), f"{opts.label}: the heading runs under History"
    assert_fits_the_window(page, f"the {opts.label} change page")
    screenshot(page, f"pages/{slug}-change")


def _request_of(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def result_rows(page):
    return page.locator("#result_list tbody tr")


def test_search_box_finds_the_matching_rows_only(admin_page):
    alice = UserFactory(email="alice-search@example.com")
    bob = UserFactory(email="bob-search@example.com")
    page = admin_page
    page.goto("/admin/beep_shared/user/")
    page.fill("#searchbar", "alice-search")
    page.press("#searchbar", "Enter")
    expect(page).to_have_url(re.compile(r"\?q=alice-search$"))
    expect(result_rows(page)).to_have_count(1)
    expect(result_rows(page)).to_contain_text(alice.email)
    expect(page.locator("#changelist-search")).to_contain_text("1 result")
    assert bob.email not in page.locator("#result_list").inner_text()


def test_list_filter_keeps_only_the_chosen_rows(admin_page):
    enterprise = OrganizationFactory(name="Filter Enterprise Org", type="enterprise")
    team = OrganizationFactory(name="Filter Team Org", type="team")
    page = admin_page
    page.goto("/admin/beep_shared/organization/")
    expect(result_rows(page).filter(has_text=team.name)).to_have_count(1)

    by_type = page.locator('#changelist-filter details[data-filter-title="type"]')
    by_type.get_by_role("link", name="Enterprise").click()
    expect(page).to_have_url(re.compile(r"type__exact=enterprise"))
    expect(by_type.locator("li.selected")).to_have_text("Enterprise")
    expect(result_rows(page).filter(has_text=enterprise.name)).to_have_count(1)
    expect(result_rows(page).filter(has_text=team.name)).to_have_count(0)
