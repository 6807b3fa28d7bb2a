"""Columns that only superusers edit in the admin.

Django's model permissions are per table, but some columns decide who someone is or where
they work: a session's user and organization, an organization's owner, an account's user and
provider, a membership's user and role, a user's flags and permissions. With
``change_session`` alone, staff could point their own session at any organization; with
``change_organization``, make themselves its owner. An admin names those columns in
``superuser_fields``: they are read-only to everyone but superusers (a posted value is
ignored, as for any read-only field), and a row one of them must be filled in for (a required
column without a default) can only be added by a superuser. ``self_field`` names the one
exception: a user column that non-superusers fill with themselves on their own new rows (an
API key is its maker's). docs/rls.md ("Admin permissions") lists them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db.models import NOT_PROVIDED
from django.http import HttpRequest


def is_superuser(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_superuser)


class SuperuserFieldsMixin:
    """For a ModelAdmin: ``superuser_fields`` read-only unless the user is a superuser."""

    superuser_fields: ClassVar[tuple[str, ...]] = ()
    # A required user column non-superusers may only set to themselves, on new rows.
    self_field: ClassVar[str | None] = None

    def superuser_fields_for(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.superuser_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if is_superuser(request):
            return readonly
        excluded = set(self.get_exclude(request, obj) or ())  # type: ignore[attr-defined]
        extra = [
            name
            for name in self.superuser_fields_for(request, obj)
            if name not in readonly and name not in excluded
        ]
        return (*readonly, *extra)

    def must_fill(self, request: HttpRequest) -> list[str]:
        """The superuser fields a new row cannot do without (they have no default)."""
        model: Any = self.model  # type: ignore[attr-defined]
        required = []
        for name in self.superuser_fields_for(request, None):
            if name == self.self_field:
                continue
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:  # a form-only name: nothing the row needs
                continue
            if (
                getattr(field, "concrete", False)
                and not field.null
                and not field.has_default()
                and getattr(field, "db_default", NOT_PROVIDED) is NOT_PROVIDED
            ):
                required.append(name)
        return required

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if not super().has_add_permission(request, *args):  # type: ignore[misc]
            return False
        return is_superuser(request) or not self.must_fill(request)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if self.self_field and not change and not is_superuser(request):
            setattr(obj, self.self_field, request.user)
        super().save_model(request, obj, form, change)  # type: ignore[misc]


def superuser_field_problems(model_admin: Any) -> list[checks.CheckMessage]:
    """A misspelt name in ``superuser_fields`` would leave its column editable by staff."""
    model = model_admin.model
    problems: list[checks.CheckMessage] = []
    for name in getattr(model_admin, "superuser_fields", ()):
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            problems.append(
                checks.Error(
                    f"superuser_fields names {name!r}, which is not a field of "
                    f"{model._meta.label}: that column would stay editable by staff.",
                    obj=model_admin.__class__,
                    id="beep_shared.E020",
                )
            )
    return problems
