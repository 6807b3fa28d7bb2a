from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
    UserCreationForm,
)
from django.core import checks
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from beep_shared.admin.base import AUDIT_FIELDS, BadInputMixin
from beep_shared.admin.changelist import TableChangeList
from beep_shared.admin.columns import QuickDateColumnsMixin
from beep_shared.admin.deletion import DeleteSummaryMixin
from beep_shared.admin.permissions import (
    SuperuserFieldsMixin,
    is_superuser,
    superuser_field_problems,
)
from beep_shared.admin.related import RelatedLink, RelatedLinksMixin, related_link_problems
from beep_shared.admin.widgets import BeepFormFieldsMixin
from beep_shared.models import User


class BeepUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")


class ReadablePasswordHashWidget(ReadOnlyPasswordHashWidget):
    """Django's summary of the stored hash, or a note when the hash cannot be read (its
    hasher raises on a malformed one, which made the user's page a server error)."""

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        try:
            return super().get_context(name, value, attrs)
        except (ValueError, OverflowError, TypeError):
            context = super().get_context(name, "", attrs)
            context["summary"] = [{"label": UNREADABLE_HASH}]
            return context


UNREADABLE_HASH = "Invalid password format or unknown hashing algorithm."


class BeepUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        password = self.fields.get("password")
        if password is not None:
            password.widget = ReadablePasswordHashWidget(attrs=password.widget.attrs)


# Who the user is (what they sign in with) and what they may do: superusers only. With
# ``change_user`` alone, staff could otherwise make themselves superusers, or take over an
# account by giving it their own email address or phone number and resetting its password.
IDENTITY_FIELDS = (
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_number_verified",
    "role",
    "is_active",
    "is_staff",
    "is_superuser",
    "two_factor_enabled",
    "groups",
    "user_permissions",
)


@admin.register(User)
class UserAdmin(
    DeleteSummaryMixin,
    RelatedLinksMixin,
    BeepFormFieldsMixin,
    QuickDateColumnsMixin,
    SuperuserFieldsMixin,
    BadInputMixin,
    DjangoUserAdmin,
):
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
    # Apps whose rows point at users add theirs (beep_iam.admin.links).
    related_links = (
        RelatedLink("Sessions", "beep_shared.Session", "user"),
        RelatedLink("Owned organizations", "beep_shared.Organization", "owner_user"),
    )

    superuser_fields = IDENTITY_FIELDS

    class Media:
        css = {"all": ("beep_shared/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[TableChangeList]:
        # Filter values checked as for every table (a value the column cannot hold is a 400).
        return TableChangeList

    def superuser_fields_for(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The add form asks for an email, a name and a password only; a new user is
        # neither staff nor anything else until a superuser says so.
        return () if obj is None else self.superuser_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not is_superuser(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not is_superuser(request):
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        # Setting someone's password is signing in as them. (One's own: the admin's
        # "Change password", which asks for the old one.)
        if not is_superuser(request):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [
            *super().check(**kwargs),
            *related_link_problems(self),
            *superuser_field_problems(self),
        ]

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
