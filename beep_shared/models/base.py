"""The abstract ``Table`` base of every beep model."""

from __future__ import annotations

from typing import Any, ClassVar

import pgtrigger
from django.db import models
from django.db.models.functions import Now

from beep_shared.db import model_hooks
from beep_shared.db.fields import EntityIdField
from beep_shared.db.functions import row_id_default

# Raw SQL updates (another service, a script) must bump these as well, so they are kept by a
# trigger rather than by ``save()``. OLD.version, not NEW: Django writes back the version it
# loaded, which may be stale. statement_timestamp() matches the created_at default (Django's
# Now()), so a row created and updated in one transaction never has updated_at < created_at.
TOUCH_ROW = pgtrigger.Trigger(
    name="touch_row",
    operation=pgtrigger.Update,
    when=pgtrigger.Before,
    func=("NEW.updated_at := statement_timestamp(); NEW.version := OLD.version + 1; RETURN NEW;"),
)


class Table(models.Model):
    """Columns every table has: entity id, row id, audit columns, version and source.

    Each column the reference system does not write itself has a database default, so a
    plain SQL ``INSERT`` naming only the reference's columns yields a valid row.
    """

    id = EntityIdField()
    row_id = models.BigIntegerField(
        unique=True,
        editable=False,
        db_default=row_id_default(),
        help_text="Monotonic number, handy for keyset pagination.",
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.TextField(db_default="app", default="app", editable=False)
    updated_by = models.TextField(db_default="app", default="app", editable=False)
    deleted_by = models.TextField(null=True, blank=True, editable=False)
    version = models.IntegerField(db_default=1, editable=False)
    source = models.TextField(null=True, blank=True)

    base_triggers: ClassVar[list[Any]] = [TOUCH_ROW]

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return str(self.pk)

    @classmethod
    def extra_database_objects(cls) -> None:
        """Called once the concrete model is prepared; subclasses extend it."""
        for trigger in cls.base_triggers:
            model_hooks.add_trigger(cls, trigger)
