"""Every registered beep model's changelist and change page, opened in a real browser."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from playwright.sync_api import expect

from tests.factories import OrganizationFactory, UserFactory
from tests.test_admin_pages import factory_for

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, log_in

BEEP_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label.startswith("beep_")),
    key=lambda model: model._meta.label,
)


def secret_fields(model):
    """Columns holding secrets or their digests: the model's SECRET_FIELDS, its admin's
    ``secret_field`` and every column documented as a digest."""
    names = {*getattr(model, "SECRET_FIELDS", ())}
    names.add(getattr(admin.site._registry[model], "secret_field", None))
    names |= {f.name for f in model._meta.concrete_fields if "digest" in str(f.help_text)}
    return names - {None}


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
        return {model: factory_for(model)() for model in BEEP_MODELS}


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


@pytest.mark.parametrize("model", BEEP_MODELS, ids=lambda model: model._meta.label)
def test_changelist_and_change_page(admin_page, rows, model):
    opts = model._meta
    obj = rows[model]
    page = admin_page
    name = re.escape(str(opts.verbose_name))

    page.goto(f"/admin/{opts.app_label}/{opts.model_name}/")
    expect(page.locator("#content h1")).to_have_text(re.compile(rf"Select {name} to (change|view)"))
    link = page.locator(f'#result_list a[href$="/{quote(obj.pk)}/change/"]')
    expect(link).to_have_count(1)
    secrets = secret_values(obj)
    listed = page.content()
    assert not [s for s in secrets if s in listed], f"{opts.label}: a secret in the list"

    link.click()
    expect(page.locator("#content h1")).to_have_text(re.compile(rf"(Change|View) {name}"))
    expect(page.locator("#content h2").first).to_have_text(str(obj))
    html = page.content()
    assert obj.pk in html  # the collapsed audit fieldset shows the entity id
    assert not [s for s in secrets if s in html], f"{opts.label}: a secret on the change page"


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
