"""Rows of "nullable" tenant tables with no organization (instance-wide SSO/SCIM providers,
personal API keys) are visible to every tenant (docs/rls.md): staff working in one
organization read them, but only superusers change, delete or move them; staff keep their
own personal API keys. Security review 14: staff of organization B moved the instance's SSO
provider or SCIM token into B and re-enabled a superuser's revoked personal key."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from beep_iam.models import ApiKey, ScimProvider, SsoProvider
from beep_shared.rls import tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests.admin.admin_forms import post_form
from tests.factories import (
    ApiKeyFactory,
    MemberFactory,
    OrganizationFactory,
    ScimProviderFactory,
    SsoProviderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def staff_of(org, *codenames) -> Client:
    staff = UserFactory(is_staff=True, password="!")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    with tenant_context(org):
        MemberFactory(organization=org, user=staff, role="admin")
    client = Client()
    client.force_login(staff)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = org.pk
    session.save()
    return client


def _fresh(model, pk):
    with tenant_context(None):
        return model.objects.get(pk=pk)


@pytest.mark.parametrize(
    ("factory", "model"), [(SsoProviderFactory, SsoProvider), (ScimProviderFactory, ScimProvider)]
)
def test_tenant_staff_cannot_move_an_instance_provider_into_their_organization(factory, model):
    org_b = OrganizationFactory()
    provider = factory(organization=None)
    name = model._meta.model_name
    client = staff_of(org_b, f"view_{name}", f"change_{name}")
    url = reverse(f"admin:beep_iam_{name}_change", args=[quote(provider.pk)])
    assert client.get(url).status_code == 200  # the instance's provider is on B's page
    post_form(client, url, organization=org_b.pk)
    with tenant_context(org_b):
        moved = model.objects.get(pk=provider.pk).organization_id
    assert moved is None, f"organization B's staff took the instance-wide {name}"


def test_tenant_staff_cannot_reenable_another_users_disabled_personal_key():
    org_b = OrganizationFactory()
    root = UserFactory(is_staff=True, is_superuser=True)
    key = ApiKeyFactory(organization=None, user=root, enabled=False)  # revoked by disabling
    client = staff_of(org_b, "view_apikey", "change_apikey")
    url = reverse("admin:beep_iam_apikey_change", args=[quote(key.pk)])
    post_form(client, url, enabled="on")
    with tenant_context(org_b):
        enabled = ApiKey.objects.get(pk=key.pk).enabled
    assert not enabled, "organization B's staff re-enabled a superuser's personal API key"


def test_they_still_see_the_instance_rows_read_only():
    org_b = OrganizationFactory()
    provider = SsoProviderFactory(organization=None)
    client = staff_of(org_b, "view_ssoprovider", "change_ssoprovider", "delete_ssoprovider")
    url = reverse("admin:beep_iam_ssoprovider_change", args=[quote(provider.pk)])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    delete = reverse("admin:beep_iam_ssoprovider_delete", args=[quote(provider.pk)])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert _fresh(SsoProvider, provider.pk)


def test_staff_keep_their_own_personal_key_but_not_its_organization():
    org_b = OrganizationFactory()
    client = staff_of(org_b, "view_apikey", "change_apikey")
    me = UserFactory._meta.model.objects.get(pk=client.session["_auth_user_id"])
    key = ApiKeyFactory(organization=None, user=me, enabled=True)
    url = reverse("admin:beep_iam_apikey_change", args=[quote(key.pk)])
    post_form(client, url, enabled="", organization=org_b.pk)  # switched off, moved to B
    fresh = _fresh(ApiKey, key.pk)
    assert fresh.enabled is False
    assert fresh.organization_id is None


def test_a_superuser_still_moves_them():
    org_b = OrganizationFactory()
    provider = SsoProviderFactory(organization=None)
    root = UserFactory(is_staff=True, is_superuser=True, password="!")
    client = Client()
    client.force_login(root)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = org_b.pk  # working in B, as the staff above
    session.save()
    url = reverse("admin:beep_iam_ssoprovider_change", args=[quote(provider.pk)])
    post_form(client, url, organization=org_b.pk)
    with tenant_context(org_b):
        assert SsoProvider.objects.get(pk=provider.pk).organization_id == org_b.pk


@pytest.mark.parametrize("permissions", [("view_apikey",), ("view_apikey", "change_apikey")])
def test_the_disable_action_changes_no_row_the_user_may_not(permissions):
    # Review 15: the action declared no permission and updated every selected row.
    org_b = OrganizationFactory()
    root = UserFactory(is_staff=True, is_superuser=True)
    theirs = ApiKeyFactory(organization=None, user=root, enabled=True)
    client = staff_of(org_b, *permissions)
    me = UserFactory._meta.model.objects.get(pk=client.session["_auth_user_id"])
    mine = ApiKeyFactory(organization=None, user=me, enabled=True)
    url = reverse("admin:beep_iam_apikey_changelist")
    client.post(
        url,
        {"action": "disable_keys", ACTION_CHECKBOX_NAME: [theirs.pk, mine.pk], "index": "0"},
    )
    assert _fresh(ApiKey, theirs.pk).enabled
    assert _fresh(ApiKey, mine.pk).enabled is ("change_apikey" not in permissions)
