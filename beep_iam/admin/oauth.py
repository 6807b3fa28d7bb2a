"""Admin for the OAuth provider tables.

Secrets and token digests are never shown (the columns are excluded; a client shows only
whether it has a secret). Tokens are read-only: they are issued by the services, and
revoked rather than edited. Filters are plain columns, never a foreign key (which would
list every client or user), and counts are not computed, so lists stay cheap on large
tables.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from beep_iam.models import (
    OAuthAccessToken,
    OAuthClient,
    OAuthClientAssertion,
    OAuthClientResource,
    OAuthConsent,
    OAuthRefreshToken,
    OAuthResource,
)
from beep_iam.services.oauth_clients import disable_clients
from beep_iam.services.oauth_tokens import revoke_client_tokens, revoke_refresh_tokens
from beep_shared.admin.base import TableAdmin


class TokenStateFilter(admin.SimpleListFilter):
    """Active / expired / revoked, from the token's own columns (no lookups query)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        value = self.value()
        if value == "active":
            return queryset.filter(revoked__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if value == "expired":
            return queryset.filter(expires_at__lte=now)
        if value == "revoked":
            return queryset.filter(revoked__isnull=False)
        return queryset


@admin.register(OAuthClient)
class OAuthClientAdmin(TableAdmin):
    list_display = (
        "name",
        "client_id",
        "token_endpoint_auth_method",
        "secret",
        "disabled",
        "user",
        "created_at",
    )
    list_select_related = ("user",)
    list_filter = ("disabled", "public", "token_endpoint_auth_method", "skip_consent")
    search_fields = ("=client_id", "name")
    raw_id_fields = ("user",)
    exclude = ("client_secret",)
    actions = ("disable_selected_clients", "revoke_client_tokens")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # client_id is what tokens and consents reference; it never changes.
        return (*super().get_readonly_fields(request, obj), "client_id", "secret")

    @admin.display(description="secret")
    def secret(self, obj: OAuthClient) -> str:
        return "set" if obj.client_secret else "none"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Registration hands out the raw secret once; it goes through
        # beep_iam.services.oauth_clients.register_client, not a form.
        return False

    @admin.action(description="Disable selected clients", permissions=["change"])
    def disable_selected_clients(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = disable_clients(list(queryset.values_list("client_id", flat=True)))
        self.message_user(request, f"Disabled {count} client(s).", messages.SUCCESS)

    @admin.action(description="Revoke all tokens of selected clients", permissions=["change"])
    def revoke_client_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        refresh, access = revoke_client_tokens(queryset.values_list("client_id", flat=True))
        self.message_user(
            request,
            f"Revoked {refresh} refresh and {access} access token(s).",
            messages.SUCCESS,
        )


class _TokenAdmin(TableAdmin):
    """Read-only token rows; revoking is the one change offered."""

    list_select_related = ("client", "user")
    list_filter = (TokenStateFilter, "expires_at")
    # Exact matches only, each answered by an index however large the table ("=field"
    # search fields would compare UPPER(column) and join every user).
    exact_search_fields = ("id", "client", "user__email")
    search_help_text = "A token id, a client id, or a user's email address."
    exclude = ("token",)
    actions = ("revoke_selected_tokens",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> Any:
        # Django's "delete selected" loads every chosen row (all of them with "select all")
        # to build its confirmation page; tokens are removed by purge_expired_tokens instead.
        # ``action_location`` exists from Django 6.1 on; 5.2's method takes the request only.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = queryset.filter(revoked__isnull=True).update(revoked=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(OAuthAccessToken)
class OAuthAccessTokenAdmin(_TokenAdmin):
    list_display = ("id", "client", "user", "scopes", "expires_at", "revoked", "created_at")
    raw_id_fields = ("client", "user", "session", "oauth_refresh_token")


@admin.register(OAuthRefreshToken)
class OAuthRefreshTokenAdmin(_TokenAdmin):
    list_display = (
        "id",
        "client",
        "user",
        "scopes",
        "expires_at",
        "revoked",
        "rotated_at",
        "created_at",
    )
    raw_id_fields = ("client", "user", "session")

    @admin.action(
        description="Revoke selected tokens and the access tokens they minted",
        permissions=["revoke"],
    )
    def revoke_selected_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count, minted = revoke_refresh_tokens(queryset)
        self.message_user(
            request,
            f"Revoked {count} refresh token(s) and {minted} access token(s) they minted.",
            messages.SUCCESS,
        )


@admin.register(OAuthConsent)
class OAuthConsentAdmin(TableAdmin):
    list_display = ("client", "user", "scopes", "updated_at")
    list_select_related = ("client", "user")
    search_fields = ("=client__client_id", "client__name", "=user__email")
    raw_id_fields = ("client", "user")


@admin.register(OAuthResource)
class OAuthResourceAdmin(TableAdmin):
    list_display = ("name", "identifier", "disabled", "access_token_ttl", "created_at")
    list_filter = ("disabled",)
    search_fields = ("=identifier", "name")


@admin.register(OAuthClientResource)
class OAuthClientResourceAdmin(TableAdmin):
    list_display = ("client", "resource", "created_at")
    list_select_related = ("client", "resource")
    search_fields = ("=client__client_id", "=resource__identifier")
    raw_id_fields = ("client", "resource")


@admin.register(OAuthClientAssertion)
class OAuthClientAssertionAdmin(TableAdmin):
    """Written by better-auth only (replay protection); viewing and purging is all there is."""

    list_display = ("id", "expires_at", "created_at")
    search_fields = ("=id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
