"""Django-side checks of rows better-auth wrote: they load, validate and obey RLS."""

from __future__ import annotations

from typing import Any

from django.db import models

from beep_shared.models import Organization, TenantModel
from beep_shared.rls import tenant_context


def loads(model: type[models.Model], pk: str, *, tenant: Organization | str | None = None) -> Any:
    """The row ``pk`` of ``model`` loaded by the ORM (as the web role) and ``full_clean``-ed.

    Tenant rows are read inside ``tenant_context(tenant)`` and must be invisible to any other
    tenant and without one.
    """
    if issubclass(model, TenantModel):
        assert tenant is not None, f"{model.__name__} is a tenant table: name the tenant"
        with tenant_context(tenant):
            row = model.objects.get(pk=pk)
            row.full_clean()
        other = Organization.objects.exclude(pk=getattr(tenant, "pk", tenant)).first()
        if other is not None:
            with tenant_context(other):
                assert not model.objects.filter(pk=pk).exists(), "visible to another tenant"
        assert not model.objects.filter(pk=pk).exists(), "visible without a tenant"
        return row
    row = model.objects.get(pk=pk)
    row.full_clean()
    return row


def shown_in_admin(row: models.Model, *, tenant: Organization | str | None = None) -> None:
    """The row's admin change page renders for a superuser working in ``tenant``.

    For a tenant row, the organization is chosen with the admin's switcher (session key), so
    the page is served under that tenant's row level security, not across tenants.
    """
    from django.test import Client
    from django.urls import reverse

    from beep_shared.models import User
    from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY

    admin = User.objects.filter(email="interop-admin@example.com").first()
    if admin is None:
        admin = User.objects.create_superuser("interop-admin@example.com", "x", name="Admin")
    client = Client()
    client.force_login(admin)
    if tenant is not None:
        session = client.session
        session[ACTIVE_TENANT_SESSION_KEY] = getattr(tenant, "pk", tenant)
        session.save()
    opts = row._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert str(row.pk) in response.content.decode()
