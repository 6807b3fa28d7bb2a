"""Changelist columns that render quickly."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.utils import timezone
from django.utils.safestring import SafeString

DATETIME_COLUMN_FORMAT = "%Y-%m-%d %H:%M"


def datetime_column(field: models.DateTimeField) -> Any:
    """A changelist column showing ``field`` as ``YYYY-MM-DD HH:MM`` in the current time
    zone, sortable like the field; named like it, so the cells keep their CSS classes."""

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(obj: Any) -> SafeString | None:
        value = getattr(obj, field.attname)
        if value is None:
            return None  # the admin's empty value display
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        # Digits, "-", ":" and a space only: nothing to escape. One line, like Django's
        # own date cells.
        return SafeString(f'<span class="nowrap">{value.strftime(DATETIME_COLUMN_FORMAT)}</span>')

    column.__name__ = field.name
    return column
