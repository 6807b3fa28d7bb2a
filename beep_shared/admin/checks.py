"""System checks of :class:`~beep_shared.admin.base.TableAdmin` classes."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.filters import (
    AllValuesFieldListFilter,
    RelatedFieldListFilter,
    RelatedOnlyFieldListFilter,
)
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

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
