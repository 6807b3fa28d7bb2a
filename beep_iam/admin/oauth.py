"""Admin for the OAuth provider tables.

Secrets and token digests are never shown (the columns are excluded; a client shows only
whether it has a secret). A client is registered on the add page as ``register_client`` does
(the form validates, ``save_model`` calls ``create_client``)
and its secret rotated with the "Rotate secret" button; either shows the new raw secret once,
in the response itself (``beep_shared.admin.one_time``). Tokens are read-only: issued by the
services, revoked (from the list or their own page) rather than edited. Filters are plain
columns or exact values, never a list of clients or users, and counts are not computed, so
lists stay cheap on large tables.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from beep_iam.admin.oauth_forms import (
    OAuthClientChangeForm,
    OAuthClientRegistrationForm,
    OAuthConsentForm,
)
from beep_iam.models import (
    OAuthAccessToken,
    OAuthClient,
    OAuthClientAssertion,
    OAuthClientResource,
    OAuthConsent,
    OAuthRefreshToken,
    OAuthResource,
)
from beep_iam.services.oauth_clients import create_client, disable_clients, rotate_client_secret
from beep_iam.services.oauth_consent import grant_consent
from beep_iam.services.oauth_tokens import revoke_client_tokens
from beep_shared.admin.base import AUDIT_FIELDS, ObjectButton, TableAdmin
from beep_shared.admin.columns import datetime_cell
from beep_shared.admin.errors import one_line
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.admin.one_time import hold_secrets, one_time_secret_response, take_secrets
from beep_shared.admin.permissions import is_superuser
from beep_shared.admin.related import RelatedLink

RECORD = ("Record", {"classes": ["collapse"], "fields": AUDIT_FIELDS})


class TokenStateFilter(admin.SimpleListFilter):
    """Active / expired / revoked, from the token's own columns (no lookups query), as the
    token querysets define them (``live()``, ``expired()``)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "active":
            return queryset.live()  # type: ignore[attr-defined]
        if value == "expired":
            return queryset.expired()  # type: ignore[attr-defined]
        if value == "revoked":
            return queryset.filter(revoked__isnull=False)
        return queryset


def get_object_or_404(model_admin: Any, request: HttpRequest, object_id: str) -> Any:
    """The row ``object_id`` the user may see; 404 (not 500) for a malformed id too."""
    try:
        obj = model_admin.get_object(request, unquote(object_id))
    except ValidationError as exc:
        raise Http404(one_line(exc)) from None
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} {one_line(object_id)}.")
    return obj


def change_url(model_admin: Any, obj: Any) -> str:
    opts = model_admin.opts
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_change",
        args=[quote(obj.pk)],
        current_app=model_admin.admin_site.name,
    )


IDENTITY_FIELDS = ("name", "client_id", "secret", "user", "disabled", "type", "application_type")
CLIENT_FIELDSETS = (
    (
        "Redirects",
        {"fields": ("redirect_uris", "post_logout_redirect_uris")},
    ),
    (
        "Authentication",
        {
            "fields": (
                "token_endpoint_auth_method",
                "public",
                "grant_types",
                "response_types",
                "require_pkce",
                "jwks_uri",
                "jwks",
                "dpop_bound_access_tokens",
            )
        },
    ),
    (
        "Scopes and consent",
        {"fields": ("scopes", "client_credentials_scopes", "skip_consent", "enable_end_session")},
    ),
    (
        "About the client",
        {
            "classes": ["collapse"],
            "fields": (
                "uri",
                "icon",
                "contacts",
                "tos",
                "policy",
                "software_id",
                "software_version",
                "software_statement",
                "subject_type",
                "backchannel_logout_uri",
                "backchannel_logout_session_required",
                "reference_id",
                "metadata",
            ),
        },
    ),
)


def _without(fieldsets: Any, hidden: set[str]) -> list[Any]:
    return [
        (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
        for name, options in fieldsets
    ]


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
    list_filter = (
        "disabled",
        "public",
        "token_endpoint_auth_method",
        "skip_consent",
        ("user", ExactValueFilter),
    )
    search_fields = ("=client_id", "name")
    raw_id_fields = ("user",)
    # Skipping consent lets the client's redirect URIs receive any signed-in user's
    # authorization without asking them.
    superuser_fields = ("skip_consent",)
    # Where an existing client's codes go: a URI added to a client that skips consent, or
    # that users consented to, receives their authorization without a question. A new
    # client's URIs are the adder's to choose (no one consented to it yet).
    redirect_fields = ("redirect_uris", "post_logout_redirect_uris")
    form = OAuthClientChangeForm
    add_form = OAuthClientRegistrationForm
    actions = ("disable_selected_clients", "revoke_client_tokens")
    related_links = (
        RelatedLink("Access tokens", "beep_iam.OAuthAccessToken", "client"),
        RelatedLink("Refresh tokens", "beep_iam.OAuthRefreshToken", "client"),
        RelatedLink("Consents", "beep_iam.OAuthConsent", "client"),
    )

    def superuser_fields_for(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = super().superuser_fields_for(request, obj)
        return fields if obj is None else (*fields, *self.redirect_fields)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly
        # client_id is what tokens and consents reference; it never changes. "public"
        # follows from the auth method.
        return (*readonly, "client_id", "secret", "public")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            hidden = {"client_id", "secret", "disabled", "public"}
            return _without([(None, {"fields": IDENTITY_FIELDS}), *CLIENT_FIELDSETS], hidden)
        return self.with_related_rows(
            request, obj, [(None, {"fields": IDENTITY_FIELDS}), *CLIENT_FIELDSETS, RECORD]
        )

    @admin.display(description="secret")
    def secret(self, obj: OAuthClient) -> str:
        return "set" if obj.client_secret else "none"

    @method_decorator(sensitive_variables("registered"))
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form validated the client; create_client gives it its id and secret and
        # inserts it. The raw secret waits on the object for response_add, the only place
        # it is ever shown.
        registered = create_client(obj)
        hold_secrets(obj, ("Client secret", registered.client_secret))

    @method_decorator(sensitive_variables("shown"))
    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        shown = take_secrets(obj) or []
        return one_time_secret_response(
            self,
            request,
            obj,
            shown,
            title=f"OAuth client registered: {obj}",
            facts=[("Client id", obj.client_id)],
            note="Copy the secret now: only its digest is stored, so it cannot be shown "
            "again (rotate it to get a new one).",
        )

    def get_object_buttons(self, request: HttpRequest, obj: Any) -> list[ObjectButton]:
        buttons = super().get_object_buttons(request, obj)
        if obj.uses_secret and self.has_change_permission(request, obj):
            url = reverse("admin:beep_iam_oauthclient_rotate_secret", args=[quote(obj.pk)])
            buttons.append(ObjectButton("Rotate secret", url))
        return buttons

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/rotate-secret/",
                self.admin_site.admin_view(require_POST(self.rotate_secret_view)),
                name="beep_iam_oauthclient_rotate_secret",
            ),
            *super().get_urls(),
        ]

    @method_decorator(sensitive_variables("raw", "response"))
    def rotate_secret_view(self, request: HttpRequest, object_id: str) -> Any:
        """Show, then commit: the page with the new secret is rendered inside the transaction
        that stores its digest, so a page that fails to render leaves the old secret valid
        (as ``rotate_oauth_client_secret`` does for its output)."""
        client = get_object_or_404(self, request, object_id)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        with transaction.atomic(using=router.db_for_write(OAuthClient, instance=client)):
            try:
                raw = rotate_client_secret(client)
            except ValidationError as exc:
                self.message_user(request, one_line(exc), messages.ERROR)
                return HttpResponseRedirect(change_url(self, client))
            self.log_change(request, client, [{"changed": {"fields": ["client secret"]}}])
            response = one_time_secret_response(
                self,
                request,
                client,
                [("New client secret", raw)],
                title=f"Secret rotated: {client}",
                facts=[("Client id", client.client_id)],
                note="The old secret no longer works. Copy the new one now: only its digest "
                "is stored, so it cannot be shown again.",
            )
            response.render()
        return response

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
    """Read-only token rows; revoking is the one change offered (list action or button)."""

    list_select_related = ("client", "user")
    list_filter: ClassVar[Any] = (
        TokenStateFilter,
        "expires_at",
        ("client", ExactValueFilter),
        ("user", ExactValueFilter),
    )
    # Exact matches only, each answered by an index however large the table ("=field"
    # search fields would compare UPPER(column) and join every user).
    exact_search_fields = ("id", "client", "user__email")
    search_help_text = "A token id, a client id, or a user's email address."
    actions = ("revoke_selected_tokens",)
    # The state (with its date) links to the token: a 56-character id as the link column
    # left no room for the columns that matter in a 1,280 px window.
    list_display_links = ("state",)

    @admin.display(description="state", ordering="expires_at")
    def state(self, obj: Any) -> str:
        if obj.revoked is not None:
            label, when = "Revoked", obj.revoked
        elif obj.is_expired:
            label, when = "Expired", obj.expires_at
        elif obj.expires_at is not None:
            label, when = "Active until", obj.expires_at
        else:
            return "Active"
        return format_html("{}<br>{}", label, datetime_cell(when))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> Any:
        # No bulk delete of tokens: revoke them, and purge_expired_tokens removes them. (It
        # was also that Django's action read every selected row; beep_shared.admin.deletion's
        # does not.)
        # ``action_location`` exists from Django 6.1 on; 5.2's method takes the request only.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = queryset.revoke()  # type: ignore[attr-defined]
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def get_object_buttons(self, request: HttpRequest, obj: Any) -> list[ObjectButton]:
        buttons = super().get_object_buttons(request, obj)
        if obj.revoked is None and self.has_revoke_permission(request):
            opts = self.opts
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_revoke", args=[quote(obj.pk)])
            buttons.append(ObjectButton("Revoke", url))
        return buttons

    def get_urls(self) -> list[Any]:
        opts = self.opts
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(require_POST(self.revoke_view)),
                name=f"{opts.app_label}_{opts.model_name}_revoke",
            ),
            *super().get_urls(),
        ]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """Revoke this one token, as the list action would."""
        token = get_object_or_404(self, request, object_id)
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        if token.revoked is not None:
            self.message_user(request, "This token was already revoked.", messages.INFO)
        else:
            self.revoke_selected_tokens(request, self.model._default_manager.filter(pk=token.pk))
        return HttpResponseRedirect(change_url(self, token))


TOKEN_DETAILS = ("reference_id", "authorization_code_id", "resources")


@admin.register(OAuthAccessToken)
class OAuthAccessTokenAdmin(_TokenAdmin):
    list_display = ("state", "client", "user", "scopes", "created_at")
    raw_id_fields = ("client", "user", "session", "oauth_refresh_token")
    list_filter = (
        *_TokenAdmin.list_filter,
        ("oauth_refresh_token", ExactValueFilter.titled("refresh token")),
    )
    fieldsets: ClassVar[Any] = (
        (None, {"fields": ("client", "user", "scopes", "expires_at", "revoked")}),
        ("Issued with", {"fields": ("session", "refresh_token")}),
        ("Details", {"classes": ["collapse"], "fields": TOKEN_DETAILS}),
    )
    readonly_fields: ClassVar[Any] = (*AUDIT_FIELDS, "refresh_token")

    @admin.display(description="refresh token")
    def refresh_token(self, obj: OAuthAccessToken) -> str:
        if obj.oauth_refresh_token_id is None:
            return "none"
        url = reverse(
            "admin:beep_iam_oauthrefreshtoken_change", args=[quote(obj.oauth_refresh_token_id)]
        )
        return format_html('<a href="{}">{}</a>', url, obj.oauth_refresh_token_id)


@admin.register(OAuthRefreshToken)
class OAuthRefreshTokenAdmin(_TokenAdmin):
    list_display = ("state", "client", "user", "scopes", "created_at")
    raw_id_fields = ("client", "user", "session")
    fieldsets: ClassVar[Any] = (
        (None, {"fields": ("client", "user", "scopes", "expires_at", "revoked", "rotated_at")}),
        ("Issued with", {"fields": ("session", "auth_time")}),
        ("Details", {"classes": ["collapse"], "fields": TOKEN_DETAILS}),
    )
    related_links = (
        RelatedLink("Access tokens it minted", "beep_iam.OAuthAccessToken", "oauth_refresh_token"),
    )

    @admin.action(
        description="Revoke selected tokens and the access tokens they minted",
        permissions=["revoke"],
    )
    def revoke_selected_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count, minted = queryset.revoke_with_access_tokens()  # type: ignore[attr-defined]
        self.message_user(
            request,
            f"Revoked {count} refresh token(s) and {minted} access token(s) they minted.",
            messages.SUCCESS,
        )


@admin.register(OAuthConsent)
class OAuthConsentAdmin(TableAdmin):
    list_display = ("client", "user", "scopes", "updated_at")
    list_select_related = ("client", "user")
    list_filter = (("client", ExactValueFilter), ("user", ExactValueFilter))
    search_fields = ("=client__client_id", "client__name", "=user__email")
    raw_id_fields = ("client", "user")
    # A consent on someone's behalf lets the client get their authorization unasked: only
    # superusers add or change consents (staff may view and delete them).
    superuser_fields = ("client", "user")
    form = OAuthConsentForm

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        # One consent per (client, user): changing either would be another consent.
        return readonly if obj is None else (*readonly, "client", "user")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # grant_consent inserts or replaces the (client, user) row; ``obj`` becomes that row,
        # as the admin logs and redirects to it.
        data = form.cleaned_data
        consent = grant_consent(
            data.get("client") or obj.client,
            data.get("user") or obj.user,
            data["scopes"],
            reference_id=data.get("reference_id") or None,
            resources=data.get("resources") or None,
        )
        for field in consent._meta.concrete_fields:
            setattr(obj, field.attname, getattr(consent, field.attname))
        obj._state.adding = False


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
