"""Which organizations a user may work in from the admin's organization switcher."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from beep_shared.rls.context import bypass_configured, bypass_rls


def organizations_for_user(user: Any) -> QuerySet[Any]:
    """Superusers: all. Others: owned organizations and those of their memberships.

    Memberships (``OrgModel.tenant_memberships``, e.g. ``member``) span tenants, so they
    are read through the bypass role; without one only owned organizations are offered.
    """
    from beep_shared.models import Organization
    from beep_shared.rls.status import org_models

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    ids = set(Organization.objects.filter(owner_user=user).values_list("id", flat=True))
    if bypass_configured():
        with bypass_rls():
            for model in org_models():
                memberships = model.tenant_memberships(user)  # type: ignore[attr-defined]
                if memberships is not None:
                    ids.update(memberships.values_list("organization_id", flat=True))
    return Organization.objects.filter(id__in=ids)
