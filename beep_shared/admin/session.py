from __future__ import annotations

from django.contrib import admin

from beep_shared.admin.base import TableAdmin
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.models import Session


@admin.register(Session)
class SessionAdmin(TableAdmin):
    list_display = ("user", "active_organization", "ip_address", "expires_at", "created_at")
    list_select_related = ("user", "active_organization")
    # Exact values through their indexes: a substring search joined every session to its user.
    exact_search_fields = ("id", "user__email")
    search_help_text = "A session id or a user's email address."
    list_filter = ("expires_at", ("ip_address", ExactValueFilter), ("user", ExactValueFilter))
    raw_id_fields = ("user", "impersonated_by", "active_organization", "active_team")
    # The token column holds a digest; it is never shown or edited here.
    exclude = ("token",)
    date_hierarchy = None
