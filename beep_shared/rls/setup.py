"""Completes a concrete ``TenantModel`` once Django has prepared it.

Runs from ``TenantModel.extra_database_objects`` (the ``class_prepared`` hook), after ``Meta``
was read, so a subclass writing its own ``class Meta`` cannot drop what is added here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import cast

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from beep_shared.db import model_hooks
from beep_shared.rls import sql
from beep_shared.rls.constraints import RowLevelSecurity

ORGANIZATION_FIELD = "organization"
INDEX_NAME_MAX = 30  # models.E034


def policy_name(table: str) -> str:
    return model_hooks.identifier(f"{sql.POLICY_PREFIX}{table}")


def rls_mode_of(model: type[models.Model]) -> str:
    mode = getattr(model, "rls_mode", sql.STANDARD)
    if mode not in sql.MODES:
        raise ImproperlyConfigured(
            f"{model.__name__}.rls_mode is {mode!r}; use one of {', '.join(sql.MODES)}."
        )
    return mode


def install(model: type[models.Model]) -> None:
    """Add the policy, the ``organization_id`` index and, in nullable mode, NULL support."""
    mode = rls_mode_of(model)
    field = cast(models.Field, model._meta.get_field(ORGANIZATION_FIELD))
    if field.model is not model:
        raise ImproperlyConfigured(
            f"{model.__name__} inherits organization from the concrete model "
            f"{field.model.__name__}; multi-table inheritance of a TenantModel is not "
            "supported (its table would have no organization_id for the policy). Make the "
            "parent abstract."
        )
    if mode == sql.NULLABLE:
        # Before migrations read the field, so the column itself becomes nullable.
        field.null = True
        field.blank = True
    index = _organization_index(model)
    if index is not None:
        model_hooks.add_index(model, index)
    if mode != sql.NONE:
        table = model._meta.db_table
        model_hooks.add_constraint(model, RowLevelSecurity(name=policy_name(table), mode=mode))


def _first_column(model: type[models.Model], names: Sequence[str]) -> str | None:
    if not names:
        return None
    name = names[0].lstrip("-")
    try:
        return model._meta.get_field(name).column  # type: ignore[union-attr]
    except Exception:
        return name


def _organization_index(model: type[models.Model]) -> models.Index | None:
    """An index on organization_id unless one already starts with it.

    Every tenant query filters on that column (the policy adds it), so each table needs an
    index led by it. A partial index or unique constraint does not count: it can't serve
    all the rows of a tenant.
    """
    column = model._meta.get_field(ORGANIZATION_FIELD).column  # type: ignore[union-attr]
    opts = model._meta
    for index in opts.indexes:
        if index.condition is None and _first_column(model, index.fields) == column:
            return None
    for constraint in opts.constraints:
        if (
            isinstance(constraint, models.UniqueConstraint)
            and constraint.condition is None
            and _first_column(model, constraint.fields) == column
        ):
            return None
    return models.Index(fields=[ORGANIZATION_FIELD], name=organization_index_name(opts.db_table))


def organization_index_name(table: str) -> str:
    """``<table>_org_idx``, shortened with a hash to Django's 30 character index names."""
    name = f"{table}_org_idx"
    if len(name) <= INDEX_NAME_MAX:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:6]
    return f"{table[: INDEX_NAME_MAX - 15]}_{digest}_org_idx"
