"""Completes concrete models as Django prepares them.

Runs on ``class_prepared``, after ``Meta`` has been read, so what it adds cannot be lost by a
subclass that writes its own ``class Meta``: foreign key constraints with database ON DELETE
actions and (through ``Table.extra_database_objects``) the base triggers and policies.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import models
from django.db.models.signals import class_prepared

from beep_shared.db.constraints import ForeignKeyConstraint
from beep_shared.db.fields import ForeignKey

MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


def identifier(*parts: str) -> str:
    """Join ``parts`` with underscores, shortened with a hash to fit PostgreSQL's limit."""
    name = "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def _append_named(model: type[models.Model], option: str, obj: Any) -> None:
    """Append ``obj`` to ``Meta.<option>`` unless one of that name is there (idempotent).

    ``original_attrs`` is updated too: migrations read triggers and indexes from it.
    """
    opts = model._meta
    current = list(getattr(opts, option, []))
    if any(existing.name == obj.name for existing in current):
        return
    # A new list: the one inherited from an abstract parent's Meta is shared with siblings.
    value = [*current, obj]
    setattr(opts, option, value)
    opts.original_attrs[option] = value


def add_constraint(model: type[models.Model], constraint: Any) -> None:
    _append_named(model, "constraints", constraint)


def add_index(model: type[models.Model], index: Any) -> None:
    _append_named(model, "indexes", index)


def add_trigger(model: type[models.Model], trigger: Any) -> None:
    _append_named(model, "triggers", trigger)


def foreign_key_constraints(model: type[models.Model]) -> list[ForeignKeyConstraint]:
    table = model._meta.db_table
    return [
        ForeignKeyConstraint(
            name=identifier(table, field.column, "fkey"),
            field=field.name,
            on_delete=field.db_on_delete,
        )
        for field in model._meta.local_fields
        if isinstance(field, ForeignKey)
    ]


def _complete_model(sender: type[models.Model], **kwargs: Any) -> None:
    opts = sender._meta
    # Historical models built by the migration framework already carry these objects in
    # their state; adding them again would duplicate them.
    if opts.abstract or opts.proxy or sender.__module__ == "__fake__":
        return
    for constraint in foreign_key_constraints(sender):
        add_constraint(sender, constraint)
    extra = getattr(sender, "extra_database_objects", None)
    if extra is not None:
        extra()


class_prepared.connect(_complete_model, dispatch_uid="beep_shared.complete_model")
