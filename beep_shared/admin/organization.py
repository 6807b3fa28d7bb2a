from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from beep_shared.admin.base import ObjectButton, TableAdmin
from beep_shared.admin.errors import one_line
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.admin.related import RelatedLink
from beep_shared.admin.switching import (
    SWITCH_FORM_ID,
    activate_url,
    active_tenant_id,
    deactivate_url,
    leave_form,
    may_work_in,
    workable_tenant_ids,
)
from beep_shared.admin.tenant import TenantModelAdmin
from beep_shared.models import Organization, Team
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY


@admin.register(Organization)
class OrganizationAdmin(TableAdmin):
    # The "admin scope" column comes second (get_list_display): where to switch, at a glance.
    list_display = ("name", "type", "owner_user", "created_at")
    list_select_related = ("owner_user",)
    list_filter = (
        "type",
        "subscription_tier",
        "subscription_status",
        "is_personal",
        ("owner_user", ExactValueFilter),
    )
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("owner_user",)
    # The owner may work in the organization ("Work here").
    superuser_fields = ("owner_user",)
    prepopulated_fields = {"slug": ("name",)}
    change_list_template = "admin/beep_shared/organization/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "slug", "type", "owner_user", "is_personal")}),
        (
            "Subscription",
            {"fields": ("subscription_tier", "subscription_status", "max_members")},
        ),
        (
            "Details",
            {"classes": ["collapse"], "fields": ("logo", "metadata", "features", "settings")},
        ),
    )
    # beep_iam adds its own (members, invitations, ...): beep_iam.admin.links.
    related_links = (RelatedLink("Teams", "beep_shared.Team", "organization"),)

    def get_list_display(self, request: HttpRequest) -> Any:
        name, *rest = super().get_list_display(request)
        return (name, self.scope_column(request), *rest)

    def scope_column(self, request: HttpRequest) -> Any:
        """The "admin scope" column, made for this request: it knows the active organization
        and which of the page's organizations the user may work in."""
        active = active_tenant_id(request)
        cache: dict[str, set[str]] = {}

        def allowed(pk: str) -> bool:
            page = getattr(request, "_beep_organization_page", None)
            if page is None or pk not in page:
                return pk in workable_tenant_ids(request.user, [pk])
            if "ids" not in cache:
                # One query for the whole page.
                cache["ids"] = workable_tenant_ids(request.user, page)
            return pk in cache["ids"]

        @admin.display(description="admin scope")
        def admin_scope(obj: Organization) -> str:
            if obj.pk == active:
                return format_html(
                    '<span class="beep-active-marker">Active</span>{}', leave_form(request)
                )
            if not allowed(obj.pk):
                return ""
            return format_html(
                '<button type="submit" form="{}" formaction="{}" class="beep-inline-button">'
                "Work here</button>",
                SWITCH_FORM_ID,
                activate_url(obj.pk),
            )

        return admin_scope

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # The page's organization ids, for the scope column's one permission query.
        request._beep_organization_page = [row.pk for row in changelist.result_list]  # type: ignore[attr-defined]
        return changelist

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/activate/",
                view(require_POST(self.activate_view)),
                name="beep_shared_organization_activate",
            ),
            path(
                "deactivate/",
                view(require_POST(self.deactivate_view)),
                name="beep_shared_organization_deactivate",
            ),
            *super().get_urls(),
        ]

    def _back(self, request: HttpRequest) -> HttpResponseRedirect:
        target = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index")
        return HttpResponseRedirect(target)

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """Make ``object_id`` the organization the admin works in (this session)."""
        try:
            organization = Organization.objects.filter(pk=unquote(object_id)).first()
        except ValidationError as exc:
            raise Http404(one_line(exc)) from None
        unknown = Http404(f"No organization {one_line(object_id)}.")
        if organization is None:
            raise unknown
        if not may_work_in(request.user, organization.pk):
            if not self.has_view_or_change_permission(request, organization):
                # Not even its name: the same answer as for an id that does not exist.
                raise unknown
            self.message_user(
                request,
                f"You are neither a member nor the owner of {organization}; its rows stay hidden.",
                messages.ERROR,
            )
            return self._back(request)
        request.session[ACTIVE_TENANT_SESSION_KEY] = organization.pk
        self.message_user(request, f"Admin pages now show the rows of {organization}.")
        return self._back(request)

    def deactivate_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if active_tenant_id(request) is not None:
            del request.session[ACTIVE_TENANT_SESSION_KEY]
        if request.user.is_superuser:
            self.message_user(request, "No organization chosen: admin pages show all of them.")
        else:
            self.message_user(request, "No organization chosen: organization rows are hidden.")
        return self._back(request)

    def get_object_buttons(self, request: HttpRequest, obj: Any) -> list[ObjectButton]:
        buttons = super().get_object_buttons(request, obj)
        if obj.pk == active_tenant_id(request):
            return [*buttons, ObjectButton("Leave this organization", deactivate_url())]
        if may_work_in(request.user, obj.pk):
            return [*buttons, ObjectButton("Work here", activate_url(obj.pk))]
        return buttons


@admin.register(Team)
class TeamAdmin(TenantModelAdmin):
    list_display = ("name", "slug", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("organization",)
