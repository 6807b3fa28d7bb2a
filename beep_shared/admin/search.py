"""Exact-value search that each column's own index answers, however large the table.

Django's ``"=field"`` search compares ``UPPER(column)``, which a plain B-tree index cannot
answer, and ORs conditions on joined tables (``user__email``), which makes PostgreSQL join
every row before filtering. :func:`exact_search` instead

- compares each local column exactly (``client_id = 'x'``; a value that cannot be stored in the
  column, such as a malformed entity id, skips it);
- resolves a path through a relation first, with its own small query on the related table
  (``SELECT id FROM "user" WHERE email = 'x'``), then matches the foreign key column against
  those keys (``user_id IN (...)``),

so the final condition is an OR of indexed columns of one table: a bitmap OR of index scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Model, Q, QuerySet
from django.db.models.constants import LOOKUP_SEP

# Beyond this many related rows, the keys are matched through a subquery instead of a list.
MAX_RELATED_KEYS = 1000


def _exact_condition(model: type[Model], path: str, term: str) -> Q | None:
    """``Q`` matching rows of ``model`` whose ``path`` equals ``term``, or None if no row can."""
    name, _, rest = path.partition(LOOKUP_SEP)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist as exc:
        raise ValueError(f"{model.__name__} has no field {name!r} (exact search {path!r})") from exc
    if not rest:
        try:
            # Lookup preparation validates the value (entity ids, numbers, ...).
            model._default_manager.filter(**{name: term}).query  # noqa: B018
        except (ValidationError, ValueError, TypeError):
            return None
        return Q(**{name: term})
    if not (field.many_to_one or field.one_to_one) or not field.concrete:
        raise ValueError(f"exact search path {path!r} must follow foreign keys of {model.__name__}")
    related: Any = field.related_model
    condition = _exact_condition(related, rest, term)
    if condition is None:
        return None
    target = field.target_field.attname  # type: ignore[attr-defined]
    matches = related._default_manager.filter(condition).values_list(target, flat=True)
    keys = list(matches[: MAX_RELATED_KEYS + 1])
    if not keys:
        return None
    if len(keys) > MAX_RELATED_KEYS:
        return Q(**{f"{name}__in": matches})
    return Q(**{f"{name}__in": keys})


def exact_search(queryset: QuerySet[Any], fields: Iterable[str], term: str) -> QuerySet[Any]:
    """Rows of ``queryset`` where any of ``fields`` (paths like ``"user__email"``) equals
    ``term`` exactly; all rows for an empty term, none if no field can hold it."""
    term = term.strip()
    if not term:
        return queryset
    conditions = [_exact_condition(queryset.model, path, term) for path in fields]
    matching = [condition for condition in conditions if condition is not None]
    if not matching:
        return queryset.none()
    combined = matching[0]
    for condition in matching[1:]:
        combined |= condition
    return queryset.filter(combined)
