from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.core import checks

from beep_shared.admin.base import AUDIT_FIELDS
from beep_shared.admin.columns import QuickDateColumnsMixin
from beep_shared.admin.related import RelatedLink, RelatedLinksMixin, related_link_problems
from beep_shared.admin.widgets import BeepFormFieldsMixin
from beep_shared.models import User


class BeepUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")


class BeepUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(RelatedLinksMixin, BeepFormFieldsMixin, QuickDateColumnsMixin, DjangoUserAdmin):
    form = BeepUserChangeForm
    add_form = BeepUserCreationForm
    list_display = ("email", "name", "role", "email_verified", "banned", "is_staff", "created_at")
    list_filter = ("role", "is_staff", "is_superuser", "is_active", "banned", "email_verified")
    search_fields = ("email", "name", "username")
    ordering = ("-row_id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = (*AUDIT_FIELDS, "last_login")
    change_list_template = "admin/beep_shared/table_change_list.html"
    change_form_template = "admin/beep_shared/table_change_form.html"
    related_links = (
        RelatedLink("Sessions", "beep_shared.Session", "user"),
        RelatedLink("Memberships", "beep_iam.Member", "user"),
        RelatedLink("Team memberships", "beep_iam.TeamMember", "user"),
        RelatedLink("Accounts", "beep_iam.Account", "user"),
        RelatedLink("Passkeys", "beep_iam.Passkey", "user"),
        RelatedLink("Two-factor", "beep_iam.TwoFactor", "user"),
        RelatedLink("API keys", "beep_iam.ApiKey", "user"),
        RelatedLink("OAuth clients", "beep_iam.OAuthClient", "user"),
        RelatedLink("Access tokens", "beep_iam.OAuthAccessToken", "user"),
        RelatedLink("Refresh tokens", "beep_iam.OAuthRefreshToken", "user"),
        RelatedLink("Consents", "beep_iam.OAuthConsent", "user"),
        RelatedLink("Owned organizations", "beep_shared.Organization", "owner_user"),
        RelatedLink("Invitations sent", "beep_iam.Invitation", "inviter"),
        RelatedLink("Wallet addresses", "beep_iam.WalletAddress", "user"),
    )

    class Media:
        css = {"all": ("beep_shared/admin.css",)}

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *related_link_problems(self)]

    def get_fieldsets(self, request: Any, obj: Any = None) -> Any:
        return self.with_related_rows(request, obj, super().get_fieldsets(request, obj))

    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Profile",
            {
                "fields": (
                    "name",
                    "username",
                    "display_username",
                    "image",
                    "email_verified",
                    "phone_number",
                    "phone_number_verified",
                    "upload_limit",
                    "stripe_customer_id",
                )
            },
        ),
        (
            "Access",
            {
                "fields": (
                    "role",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "banned",
                    "ban_reason",
                    "ban_expires",
                    "two_factor_enabled",
                    "is_anonymous_user",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Activity", {"fields": ("last_login", "last_login_method")}),
        ("Record", {"classes": ["collapse"], "fields": AUDIT_FIELDS}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "name", "password1", "password2"),
            },
        ),
    )
