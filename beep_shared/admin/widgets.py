"""Form fields and widgets of the beep admin forms.

- Short text (names, URIs, slugs, ids) is a one-line input; only the columns an admin names
  in ``multiline_fields`` (statements, keys, descriptions) keep a textarea.
- A list column (``text[]``: redirect URIs, scopes, contacts) is edited one item per line.
- A JSON column shows an empty box, not ``null``, when it holds nothing.
- An empty box in a nullable text column saves NULL, not ``''``: a unique optional column
  (``username``, ``phone_number``) holds any number of NULLs but only one ``''``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import widgets as admin_widgets
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models

# Columns that hold long or structured text wherever they occur.
MULTILINE_FIELDS = frozenset(
    {
        "description",
        "software_statement",
        "jwks",
        "public_key",
        "permission",
        "permissions",
        "oidc_config",
        "saml_config",
        "metadata",
        "ban_reason",
    }
)

LINES_HELP = "One per line."


class LinesField(forms.Field):
    """A list of strings edited as lines of a textarea (blank lines are dropped)."""

    widget = forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField beep-lines"})
    # PostgreSQL text cannot hold NUL: a form error, not a database error.
    default_validators = [ProhibitNullCharactersValidator()]

    def run_validators(self, value: Any) -> None:
        for item in value or []:
            super().run_validators(item)

    def __init__(self, *, empty_value: list[str] | None = None, **kwargs: Any) -> None:
        self.empty_value = empty_value
        kwargs.pop("max_length", None)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str] | None:
        if isinstance(value, (list, tuple)):
            items = [str(item).strip() for item in value]
        else:
            items = [line.strip() for line in str(value or "").splitlines()]
        items = [item for item in items if item]
        return items or self.empty_value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return (self.to_python(initial) or []) != (self.to_python(data) or [])


def _holds_nul(value: Any) -> bool:
    """Whether a string or key anywhere in decoded JSON holds a NUL (without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class EmptyNullJSONField(forms.JSONField):
    """Django's JSON form field, showing NULL as an empty box rather than ``null``, and
    refusing JSON nested deeper than Python's parser goes (a form error, where Django's
    field raised ``RecursionError``)."""

    default_error_messages = {
        "too_deep": "This JSON is nested too deeply.",
        "null_characters_not_allowed": ProhibitNullCharactersValidator.message,
    }

    def prepare_value(self, value: Any) -> Any:
        if value is None:
            return ""
        return super().prepare_value(value)

    def to_python(self, value: Any) -> Any:
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise ValidationError(self.error_messages["too_deep"], code="too_deep") from None
        if _holds_nul(converted):
            # jsonb refuses \u0000 in strings and keys.
            code = "null_characters_not_allowed"
            raise ValidationError(self.error_messages[code], code=code)
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return super().has_changed(initial, data)
        except RecursionError:
            return True


def one_line_input() -> forms.TextInput:
    return admin_widgets.AdminTextInputWidget(attrs={"class": "vTextField beep-wide"})


def lines_field(db_field: ArrayField, **kwargs: Any) -> LinesField:
    help_text = str(db_field.help_text or "")
    return LinesField(
        required=not db_field.blank,
        label=kwargs.get("label", db_field.verbose_name.capitalize()),
        help_text=f"{help_text} {LINES_HELP}".strip(),
        empty_value=None if db_field.null else [],
    )


class BeepFormFieldsMixin:
    """``formfield_for_dbfield`` choosing the widgets above; for any ModelAdmin."""

    multiline_fields: frozenset[str] | tuple[str, ...] = MULTILINE_FIELDS

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if isinstance(db_field, ArrayField) and isinstance(db_field.base_field, models.TextField):
            if not db_field.editable:
                return None
            return lines_field(db_field, **kwargs)
        if isinstance(db_field, models.TextField | models.CharField) and db_field.null:
            kwargs.setdefault("empty_value", None)
        if isinstance(db_field, models.JSONField):
            kwargs.setdefault("form_class", EmptyNullJSONField)
            kwargs.setdefault(
                "widget", forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"})
            )
        elif (
            isinstance(db_field, models.TextField)
            and not db_field.choices
            and db_field.name not in self.multiline_fields
        ):
            kwargs.setdefault("widget", one_line_input())
        elif isinstance(db_field, models.TextField) and not db_field.choices:
            kwargs.setdefault(
                "widget", forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"})
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
