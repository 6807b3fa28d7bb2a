"""Which organizations a user may work in (the admin's organization switcher).

:func:`may_work_in` is the one rule: the middleware re-checks a chosen organization with it
on every admin request, and the admin offers "work here" where it holds.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Exists, OuterRef, Q, QuerySet

from beep_shared.rls.context import bypass_configured, bypass_rls, organization_id, tenant_context


def may_work_in(user: Any, organization: Any) -> bool:
    """Whether ``user`` may work in ``organization`` (an Organization or its id) now.

    Superusers: any existing organization. Other users who may authenticate (active, not
    banned, not soft-deleted): organizations they own or
    hold a membership of (``OrgModel.tenant_memberships``, e.g. an active ``member`` row).
    One statement, run as that organization, so its membership rows are visible without
    the bypass alias (and the answer sees the caller's uncommitted rows).
    """
    from beep_shared.models import Organization
    from beep_shared.models.user import user_may_authenticate

    if not user_may_authenticate(user):
        return False
    try:
        org_id = organization_id(organization)
    except ValidationError:
        return False
    if org_id is None:
        return False
    if user.is_superuser:
        with tenant_context(org_id):
            return Organization.objects.filter(pk=org_id).exists()
    sql, params = _membership_check()
    # The statement's shape is fixed; only the user and the organization change.
    bound = [user.pk if p == _SOME_USER else org_id if p == _SOME_ORG else p for p in params]
    alias = router.db_for_read(Organization)
    with tenant_context(org_id, using=alias), connections[alias].cursor() as cursor:
        cursor.execute(sql, bound)
        return cursor.fetchone() is not None


# Stand-ins the membership statement is compiled with once; each call binds its own values.
_SOME_USER = "user__00000000-0000-7000-8000-00000000beef"
_SOME_ORG = "organization__00000000-0000-7000-8000-00000000beef"
_compiled: tuple[str, list[Any]] | None = None


def _membership_check() -> tuple[str, list[Any]]:
    """:func:`may_work_in`'s statement for a non-superuser: the organization, owned by the
    user or holding one of their memberships (``OrgModel.tenant_memberships``). Built by the
    ORM once per process: building it per request cost more than running it."""
    global _compiled
    if _compiled is None:
        from django.contrib.auth import get_user_model

        from beep_shared.models import Organization
        from beep_shared.rls.registry import org_models

        someone = get_user_model()(pk=_SOME_USER)
        allowed = Q(owner_user=someone)
        for model in org_models():
            memberships = model.tenant_memberships(someone)  # type: ignore[attr-defined]
            if memberships is not None:
                allowed |= Q(Exists(memberships.filter(organization_id=OuterRef("pk"))))
        rows = Organization.objects.filter(Q(pk=_SOME_ORG) & allowed)
        query = rows.query.exists()
        sql, params = query.get_compiler(router.db_for_read(Organization)).as_sql()
        _compiled = (sql, list(params))
    return _compiled


def organizations_for_user(user: Any) -> QuerySet[Any]:
    """Superusers: all. Others: owned organizations and those of their memberships.

    Memberships span tenants, so they are read through the bypass alias (committed rows
    only); without one only owned organizations are offered. :func:`may_work_in` decides
    for one organization without the bypass.
    """
    from beep_shared.models import Organization
    from beep_shared.models.user import user_may_authenticate
    from beep_shared.rls.registry import org_models

    if not user_may_authenticate(user):
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
