from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from beep_shared.admin.base import AUDIT_FIELDS
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
class UserAdmin(DjangoUserAdmin):
    form = BeepUserChangeForm
    add_form = BeepUserCreationForm
    list_display = ("email", "name", "role", "email_verified", "banned", "is_staff", "created_at")
    list_filter = ("role", "is_staff", "is_superuser", "is_active", "banned", "email_verified")
    search_fields = ("email", "name", "username")
    ordering = ("-row_id",)
    show_full_result_count = False
    readonly_fields = (*AUDIT_FIELDS, "last_login")
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
