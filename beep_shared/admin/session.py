from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

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
    # Whose session it is and where it works: a session with another organization is a way
    # into that organization (beep_shared.admin.permissions).
    superuser_fields = ("user", "impersonated_by", "active_organization", "active_team")
    date_hierarchy = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Sessions are made by signing in: the admin could neither hand anyone the token
        # nor store one (the form has no token, so a second add hit the unique '' token).
        return False
