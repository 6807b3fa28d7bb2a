"""Django-side checks of rows better-auth wrote: they load, validate and obey RLS."""

from __future__ import annotations

from typing import Any

from django.db import models

from beep_shared.models import Organization, OrgModel
from beep_shared.rls import tenant_context


def loads(model: type[models.Model], pk: str, *, tenant: Organization | str | None = None) -> Any:
    """The row ``pk`` of ``model`` loaded by the ORM (as the web role) and ``full_clean``-ed.

    Tenant rows are read inside ``tenant_context(tenant)`` and must be invisible to any other
    tenant and without one.
    """
    if issubclass(model, OrgModel):
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
