"""Admin of the tenant-scoped IAM tables (rows of the admin's tenant scope)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from beep_iam.models import (
    ApiKey,
    Invitation,
    Member,
    OrganizationRole,
    ScimProvider,
    SsoProvider,
    Subscription,
    TeamMember,
)
from beep_iam.models.tenant import CONFIG_SECRETS
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.admin.one_time import hold_secrets, one_time_secret_response, take_secrets
from beep_shared.admin.permissions import is_superuser
from beep_shared.admin.tenant import TenantModelAdmin
from beep_shared.db.show_once import set_new_secret


@admin.register(Member)
class MemberAdmin(TenantModelAdmin):
    # The role links to the membership; the user and organization cells to their rows.
    list_display = ("role", "user", "organization", "status", "joined_at", "last_active_at")
    list_select_related = ("user", "organization")
    list_filter = ("role", "status", ("user", ExactValueFilter))
    # Exact values through their indexes (the name and slug of an organization included).
    exact_search_fields = ("id", "user__email", "organization__name", "organization__slug")
    search_help_text = "A member id, a user's email address, or an organization's name or slug."
    raw_id_fields = ("organization", "user", "invited_by")
    # A membership is where someone may work, its role what they may do there.
    superuser_fields = ("user", "organization", "role", "status", "permissions")
    fieldsets = (
        (None, {"fields": ("user", "organization", "role", "status")}),
        ("Invitation", {"fields": ("invited_by", "invited_at", "joined_at", "last_active_at")}),
        ("Permissions", {"classes": ["collapse"], "fields": ("permissions",)}),
    )


@admin.register(TeamMember)
class TeamMemberAdmin(TenantModelAdmin):
    list_display = ("user", "team", "organization", "created_at")
    list_select_related = ("user", "team", "organization")
    list_filter = (("team", ExactValueFilter), ("user", ExactValueFilter))
    exact_search_fields = ("id", "user__email", "team__name")
    search_help_text = "A team member id, a user's email address, or a team's name."
    raw_id_fields = ("organization", "team", "user")
    superuser_fields = ("user", "team")


@admin.register(Invitation)
class InvitationAdmin(TenantModelAdmin):
    list_display = ("email", "organization", "team", "role", "status", "expires_at", "inviter")
    list_select_related = ("organization", "team", "inviter")
    list_filter = ("status", ("inviter", ExactValueFilter))
    search_fields = ("id", "email")
    raw_id_fields = ("organization", "team", "inviter")
    # Accepting the invitation grants the role: staff invite members, superusers owners.
    superuser_fields = ("role",)


@admin.register(OrganizationRole)
class OrganizationRoleAdmin(TenantModelAdmin):
    list_display = ("role", "organization", "created_at")
    search_fields = ("id", "role")
    # What a role name may do in the organization.
    superuser_fields = ("role", "permission")


@admin.register(Subscription)
class SubscriptionAdmin(TenantModelAdmin):
    list_display = ("plan", "organization", "status", "seats", "period_end", "cancel_at_period_end")
    list_select_related = ("organization",)
    list_filter = ("status", "cancel_at_period_end")
    search_fields = ("id", "plan", "reference_id", "stripe_customer_id", "stripe_subscription_id")


class DigestCreatingAdmin(TenantModelAdmin):
    """Generates the secret of a new row, stores its digest, shows the raw value once: in
    the response to the add form's POST itself (``beep_shared.admin.one_time``), never in a
    message, which Django's default storage would put in a cookie."""

    secret_label = "secret"

    @method_decorator(sensitive_variables("raw"))
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        raw = None if change else self.new_secret(obj)
        super().save_model(request, obj, form, change)
        if raw is not None:
            hold_secrets(obj, (f"The {self.secret_label}", raw))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        secrets_shown = take_secrets(obj)
        if not secrets_shown:
            return super().response_add(request, obj, post_url_continue)
        return one_time_secret_response(
            self,
            request,
            obj,
            secrets_shown,
            title=f"{self.secret_label[0].upper()}{self.secret_label[1:]} created: {obj}",
        )

    def new_secret(self, obj: Any) -> str:
        return set_new_secret(obj)


@admin.register(ApiKey)
class ApiKeyAdmin(DigestCreatingAdmin):
    secret_label = "API key"
    list_display = ("name", "start", "user", "organization", "enabled", "expires_at")
    list_select_related = ("user", "organization")
    list_filter = ("enabled", "rate_limit_enabled", ("user", ExactValueFilter))
    search_fields = ("id", "name", "start", "user__email")
    raw_id_fields = ("organization", "user")
    # A key acts as its user: staff make keys for themselves only.
    superuser_fields = ("user", "permissions")
    self_field = "user"
    actions = ("disable_keys",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "start", "request_count")

    def new_secret(self, obj: ApiKey) -> str:
        return obj.set_new_key()

    @admin.action(description="Disable the selected API keys", permissions=["change"])
    def disable_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        # A change like any other: not of the rows this user may not change (review 15: staff
        # of one organization disabled a superuser's personal key this way).
        count = self.without_locked_rows(request, queryset).update(enabled=False)
        self.message_user(request, f"{count} API key(s) disabled.")


class SsoProviderForm(forms.ModelForm):
    """The configurations with their secrets hidden; a secret left hidden is kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in CONFIG_SECRETS:
            if name in self.fields:
                self.initial[name] = self.instance.shown_config(name)

    def clean_oidc_config(self) -> str | None:
        return self.instance.config_keeping_secrets("oidc_config", self.cleaned_data["oidc_config"])

    def clean_saml_config(self) -> str | None:
        return self.instance.config_keeping_secrets("saml_config", self.cleaned_data["saml_config"])


@admin.register(SsoProvider)
class SsoProviderAdmin(TenantModelAdmin):
    form = SsoProviderForm
    list_display = ("provider_id", "domain", "issuer", "organization")
    search_fields = ("id", "provider_id", "domain", "issuer")
    raw_id_fields = ("organization", "user")
    # Whoever configures the identity provider of a domain signs in as its users.
    superuser_fields = ("issuer", "domain", "provider_id", "oidc_config", "saml_config", "user")

    # To staff, the configurations are read-only: shown with their secrets hidden, not as
    # the columns hold them.
    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = tuple(super().get_exclude(request, obj) or ())
        return exclude if is_superuser(request) else (*exclude, *CONFIG_SECRETS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        shown = tuple(f"shown_{name}" for name in CONFIG_SECRETS)
        return readonly if is_superuser(request) else (*readonly, *shown)

    @admin.display(description="OIDC config")
    def shown_oidc_config(self, obj: SsoProvider) -> str | None:
        return obj.shown_config("oidc_config")

    @admin.display(description="SAML config")
    def shown_saml_config(self, obj: SsoProvider) -> str | None:
        return obj.shown_config("saml_config")


@admin.register(ScimProvider)
class ScimProviderAdmin(DigestCreatingAdmin):
    secret_label = "SCIM token"
    list_display = ("provider_id", "organization", "created_at")
    search_fields = ("id", "provider_id")
    # A SCIM token creates and changes the organization's users.
    superuser_fields = ("provider_id",)
