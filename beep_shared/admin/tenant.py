"""Admin for tenant (``OrgModel``) tables and the organization switcher's session key.

What a changelist shows is decided by the database: ``TenantMiddleware`` runs admin
requests of a superuser with no organization chosen on the bypass alias (all tenants,
when ``DATABASES["bypass"]`` exists) and every other admin request as the
organization chosen with the switcher (Organizations → "work here"). This class only
explains the scope on the page and keeps forms inside it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from beep_shared.admin.base import TableAdmin
from beep_shared.rls.context import current_scope
from beep_shared.rls.middleware import ACTIVE_ORGANIZATION_SESSION_KEY


def active_organization_id(request: HttpRequest) -> str | None:
    session = getattr(request, "session", None)
    return session.get(ACTIVE_ORGANIZATION_SESSION_KEY) if session is not None else None


def scope_description(request: HttpRequest) -> str:
    scope = current_scope()
    if scope.is_bypass:
        return "All organizations (superuser, row level security bypassed)"
    if scope.organization_id:
        from beep_shared.models import Organization

        org = Organization.objects.filter(pk=scope.organization_id).first()
        return f"Organization: {org or scope.organization_id}"
    return "No organization chosen: pick one under Organizations (“work here”) to see its rows"


class OrgModelAdmin(TableAdmin):
    """Base admin of OrgModel tables: shows the tenant scope, keeps new rows inside it."""

    raw_id_fields: ClassVar[tuple[str, ...]] = ("organization",)
    list_select_related: ClassVar[bool | tuple[str, ...]] = ("organization",)

    def get_list_display(self, request: HttpRequest) -> Any:
        fields = tuple(super().get_list_display(request))
        return fields if "organization" in fields else (*fields, "organization")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra_context = {**(extra_context or {}), "subtitle": scope_description(request)}
        return super().changelist_view(request, extra_context)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        organization = current_scope().organization_id
        if organization:
            initial.setdefault("organization", organization)
        return initial

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        organization = current_scope().organization_id
        if db_field.name == "organization" and organization:
            # The policy's WITH CHECK would reject another organization; say so in the form.
            kwargs["queryset"] = db_field.remote_field.model._default_manager.filter(
                pk=organization
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def switch_link(organization: models.Model) -> str:
    url = reverse("admin:beep_shared_organization_activate", args=[organization.pk])
    return format_html('<a href="{}">work here</a>', url)
