from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from beep_shared.admin.base import TableAdmin
from beep_shared.admin.tenant import OrgModelAdmin, active_organization_id, switch_link
from beep_shared.models import Organization, Team
from beep_shared.rls.access import may_work_in
from beep_shared.rls.middleware import ACTIVE_ORGANIZATION_SESSION_KEY


@admin.register(Organization)
class OrganizationAdmin(TableAdmin):
    list_display = (
        "name",
        "slug",
        "type",
        "owner_user",
        "subscription_tier",
        "created_at",
        "work_here",
    )
    list_select_related = ("owner_user",)
    list_filter = ("type", "subscription_tier", "subscription_status", "is_personal")
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("owner_user",)
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="admin scope")
    def work_here(self, obj: Organization) -> str:
        return switch_link(obj)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/activate/",
                view(self.activate_view),
                name="beep_shared_organization_activate",
            ),
            path(
                "deactivate/",
                view(self.deactivate_view),
                name="beep_shared_organization_deactivate",
            ),
            *super().get_urls(),
        ]

    def _back(self, request: HttpRequest) -> HttpResponseRedirect:
        target = request.GET.get("next") or request.META.get("HTTP_REFERER") or ""
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index")
        return HttpResponseRedirect(target)

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """Make ``object_id`` the organization the admin works in (this session)."""
        organization = get_object_or_404(Organization, pk=object_id)
        if not may_work_in(request.user, organization):
            self.message_user(
                request,
                f"You are neither a member nor the owner of {organization}; its rows stay hidden.",
                messages.ERROR,
            )
            return self._back(request)
        request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = organization.pk
        self.message_user(request, f"Admin pages now show the rows of {organization}.")
        return self._back(request)

    def deactivate_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if active_organization_id(request) is not None:
            del request.session[ACTIVE_ORGANIZATION_SESSION_KEY]
        self.message_user(request, "No organization chosen.")
        return self._back(request)


@admin.register(Team)
class TeamAdmin(OrgModelAdmin):
    list_display = ("name", "slug", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("organization",)
