"""System checks of :class:`~beep_shared.admin.base.TableAdmin` classes."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.filters import (
    AllValuesFieldListFilter,
    RelatedFieldListFilter,
    RelatedOnlyFieldListFilter,
)
from django.contrib.admin.utils import flatten_fieldsets
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

from beep_shared.db.show_once import secret_fields

# Filters that read the whole related table (or the whole filtered table) on every page.
UNBOUNDED_FILTERS = (AllValuesFieldListFilter, RelatedFieldListFilter, RelatedOnlyFieldListFilter)


def unbounded_list_filters(model_admin: Any) -> list[checks.CheckMessage]:
    """Warn about list filters that read a whole table to draw their choices (W001)."""
    problems: list[checks.CheckMessage] = []
    item: Any
    name: Any
    filter_class: Any
    for item in model_admin.list_filter:
        if isinstance(item, str):
            name, filter_class = item, None
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            name, filter_class = item
        else:
            continue
        if filter_class is None:
            try:
                field = model_admin.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue  # a path through relations: Django's own checks cover it
            if not field.is_relation:
                continue
            filter_class = RelatedFieldListFilter
        if isinstance(filter_class, type) and issubclass(filter_class, UNBOUNDED_FILTERS):
            problems.append(
                checks.Warning(
                    f"list_filter item {name!r} of {type(model_admin).__name__} lists every "
                    "row of a table on each changelist page.",
                    hint=(
                        f"Use ({name!r}, beep_shared.admin.filters.ExactValueFilter) "
                        "or a SimpleListFilter with fixed choices."
                    ),
                    obj=type(model_admin),
                    id="beep_shared.W001",
                )
            )
    return problems


def secret_field_problems(model_admin: Any) -> list[checks.CheckMessage]:
    """An admin option that would display a secret column (E040): forms leave them out by
    their class (``TableAdmin.get_exclude``); lists, read-only fields, filters and substring
    searches must not name them either. Searching one by its exact value (``"=field"``) is
    allowed: it reveals nothing the searcher did not type."""
    hidden = {field.name for field in secret_fields(model_admin.model)}
    if not hidden:
        return []
    named: set[str] = {
        *(item for item in model_admin.list_display if isinstance(item, str)),
        *(item for item in model_admin.readonly_fields if isinstance(item, str)),
        *(model_admin.fields or ()),
        *(flatten_fieldsets(model_admin.fieldsets) if model_admin.fieldsets else ()),
    }
    for item in model_admin.list_filter:
        if isinstance(item, str):
            named.add(item)
        elif isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
            named.add(item[0])
    named |= {field.lstrip("^@") for field in model_admin.search_fields if field[:1] != "="}
    shown = sorted(hidden & named)
    if not shown:
        return []
    return [
        checks.Error(
            f"{type(model_admin).__name__} names the secret column(s) {', '.join(shown)} in "
            "an option that would display or substring-search them.",
            hint="Leave SecretField columns out of list_display, fields, fieldsets, "
            "readonly_fields, list_filter and search_fields (an exact '=field' search is "
            "allowed).",
            obj=type(model_admin),
            id="beep_shared.E040",
        )
    ]
