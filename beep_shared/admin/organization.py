from __future__ import annotations

from django.contrib import admin

from beep_shared.admin.base import TableAdmin
from beep_shared.models import Organization, Team


@admin.register(Organization)
class OrganizationAdmin(TableAdmin):
    list_display = ("name", "slug", "type", "owner_user", "subscription_tier", "created_at")
    list_select_related = ("owner_user",)
    list_filter = ("type", "subscription_tier", "subscription_status", "is_personal")
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("owner_user",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Team)
class TeamAdmin(TableAdmin):
    list_display = ("name", "slug", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "id")
    raw_id_fields = ("organization",)
