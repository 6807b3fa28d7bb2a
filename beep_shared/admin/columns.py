"""Changelist columns that render quickly."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

# Stands for the quoted primary key in a reversed change URL; admin quoting turns every "_"
# of a real key into "_5F", so it can never occur in one.
PK_MARK = "__pk__"

DATETIME_COLUMN_FORMAT = "%Y-%m-%d %H:%M"


def datetime_column(field: models.DateTimeField) -> Any:
    """A changelist column showing ``field`` as ``YYYY-MM-DD HH:MM`` in the current time
    zone, sortable like the field; named like it, so the cells keep their CSS classes."""

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(obj: Any) -> SafeString | None:
        value = getattr(obj, field.attname)
        # None: the admin's empty value display.
        return datetime_cell(value)

    column.__name__ = field.name
    return column


def datetime_cell(value: Any) -> SafeString | None:
    """A date-time as a list cell reads everywhere: ``YYYY-MM-DD HH:MM``, local time."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    # Digits, "-", ":" and a space only: nothing to escape. One line, like Django's own cells.
    return SafeString(f'<span class="nowrap">{value.strftime(DATETIME_COLUMN_FORMAT)}</span>')


def related_link_column(field: Any, url_template: str) -> Any:
    """A changelist column showing a foreign key's row as a link to that row's page.

    ``url_template`` is the related change URL with ``__pk__`` for the key, reversed once
    (see ``TableChangeList``); the related row comes from ``list_select_related``.
    """

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(obj: Any) -> Any:
        key = getattr(obj, field.attname)
        if key is None:
            return None
        return format_html(
            '<a href="{}">{}</a>',
            url_template.replace(PK_MARK, quote(key), 1),
            getattr(obj, field.name),
        )

    column.__name__ = field.name
    return column


class QuickDateColumnsMixin:
    """Shows every DateTimeField of ``list_display`` through :func:`datetime_column`, and
    every foreign key column (but the row's own link) as a link to the related row, for
    users who may view it."""

    def get_list_display(self, request: Any) -> Any:
        names = tuple(super().get_list_display(request))  # type: ignore[misc]
        own_links = set(self.list_display_links or names[:1])  # type: ignore[attr-defined]
        return tuple(
            self._related_column(request, name)
            if name not in own_links
            else self._list_column(name)
            for name in names
        )

    def _related_column(self, request: Any, name: Any) -> Any:
        column = self._list_column(name)
        if column is not name or not isinstance(name, str):
            return column
        try:
            field = self.model._meta.get_field(name)  # type: ignore[attr-defined]
        except FieldDoesNotExist:
            return name
        if (
            not (field.many_to_one and field.concrete)
            or field.target_field is not field.related_model._meta.pk
        ):
            return name
        site = self.admin_site  # type: ignore[attr-defined]
        related_admin = site._registry.get(field.related_model)
        if related_admin is None or not related_admin.has_view_permission(request):
            return name
        opts = field.related_model._meta
        template = reverse(
            f"{site.name}:{opts.app_label}_{opts.model_name}_change",
            args=(PK_MARK,),
            current_app=site.name,
        )
        return related_link_column(field, template)

    def get_list_display_links(self, request: Any, list_display: Any) -> Any:
        links = super().get_list_display_links(request, list_display)  # type: ignore[misc]
        if not links:
            return links
        return tuple(self._list_column(name) for name in links)

    def _list_column(self, name: Any) -> Any:
        """The list column for ``name``: a quick date-time column for a DateTimeField."""
        if not isinstance(name, str) or name in getattr(self, "list_editable", ()):
            return name
        columns = self.__dict__.setdefault("_datetime_columns", {})
        if name not in columns:
            try:
                field = self.model._meta.get_field(name)  # type: ignore[attr-defined]
            except FieldDoesNotExist:
                field = None
            columns[name] = (
                datetime_column(field) if isinstance(field, models.DateTimeField) else name
            )
        return columns[name]
