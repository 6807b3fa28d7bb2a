"""Admin of tenant (``TenantModel``) tables: the scope on the page, forms inside it.

What a changelist shows is decided by the database: ``TenantMiddleware`` runs admin
requests of a superuser with no organization chosen on the bypass alias (all tenants,
when ``DATABASES["bypass"]`` exists) and every other admin request as the
organization chosen with the switcher (Organizations → "Work here", a POST). This class only
explains the scope on the page and keeps forms inside it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from beep_shared.admin.base import TableAdmin
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.admin.permissions import is_superuser
from beep_shared.rls.context import current_scope
from beep_shared.rls.setup import rls_mode_of
from beep_shared.rls.sql import NULLABLE


def scope_description(request: HttpRequest) -> str:
    scope = current_scope()
    if scope.is_bypass:
        return "All organizations (superuser, row level security bypassed)"
    if scope.tenant_id:
        from beep_shared.models import Organization

        organization = Organization.objects.filter(pk=scope.tenant_id).first()
        return f"Organization: {organization or scope.tenant_id}"
    return "No organization chosen: pick one under Organizations (“Work here”) to see its rows"


class TenantModelAdmin(TableAdmin):
    """Base admin of TenantModel tables: shows the tenant scope, keeps new rows inside it."""

    raw_id_fields: ClassVar[tuple[str, ...]] = ("organization",)
    list_select_related: ClassVar[bool | tuple[str, ...]] = ("organization",)

    def __init__(self, model: Any, admin_site: Any) -> None:
        super().__init__(model, admin_site)
        by_organization = ("organization", ExactValueFilter)
        if by_organization not in [tuple(f) for f in self.list_filter if isinstance(f, tuple)]:
            # The organization page links here (``related_links``) through this filter.
            self.list_filter = (*self.list_filter, by_organization)  # type: ignore[misc]

    def get_list_display(self, request: HttpRequest) -> Any:
        fields = tuple(super().get_list_display(request))
        return fields if "organization" in fields else (*fields, "organization")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra_context = {**(extra_context or {}), "subtitle": scope_description(request)}
        return super().changelist_view(request, extra_context)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        organization = current_scope().tenant_id
        if organization:
            initial.setdefault("organization", organization)
        return initial

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        organization = current_scope().tenant_id
        if db_field.name == "organization" and organization:
            # The policy's WITH CHECK would reject another organization; say so in the form.
            kwargs["queryset"] = db_field.remote_field.model._default_manager.filter(
                pk=organization
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # A "nullable" table's rows of no organization are the instance's, visible to every
    # tenant (docs/rls.md): staff working in one organization may read them, but only
    # superusers change or delete one (but a row of the staff member's own, a personal API
    # key), and only superusers move a row between organizations or out of them.
    def _locks_instance_rows(self, request: HttpRequest) -> bool:
        return not is_superuser(request) and rls_mode_of(self.model) == NULLABLE

    def instance_row_locked(self, request: HttpRequest, obj: Any) -> bool:
        """Whether ``obj`` is an instance-wide row ``request``'s user may not change."""
        if obj is None or not self._locks_instance_rows(request):
            return False
        if getattr(obj, "organization_id", None) is not None:
            return False
        own = self.self_field and getattr(obj, f"{self.self_field}_id", None) == request.user.pk
        return not own

    def without_locked_rows(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """``queryset`` without the rows :meth:`instance_row_locked` keeps from
        ``request``'s user: for actions that change rows in bulk."""
        if not self._locks_instance_rows(request):
            return queryset
        locked = Q(organization__isnull=True)
        if self.self_field:
            locked &= ~Q(**{self.self_field: request.user.pk})
        return queryset.exclude(locked)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.instance_row_locked(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.instance_row_locked(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def superuser_fields_for(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = super().superuser_fields_for(request, obj)
        if obj is not None and rls_mode_of(self.model) == NULLABLE:
            return (*fields, "organization")
        return fields
