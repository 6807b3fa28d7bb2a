"""Database objects declared as ``Meta.constraints`` so migrations create and diff them."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.constraints import BaseConstraint


class ForeignKeyConstraint(BaseConstraint):
    """``FOREIGN KEY ... ON DELETE <action>`` for one foreign key field.

    Added automatically for every :class:`beep_shared.db.fields.ForeignKey` (see
    ``beep_shared.db.model_hooks``); declaring one by hand is rarely needed.
    """

    def __init__(
        self, *, name: str, field: str, on_delete: str, violation_error_message: Any = None
    ) -> None:
        self.field = field
        self.on_delete = on_delete
        super().__init__(name=name, violation_error_message=violation_error_message)

    def _statement(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        assert model is not None
        field = model._meta.get_field(self.field)
        target = field.target_field  # type: ignore[union-attr]
        qn = schema_editor.quote_name
        return (
            f"ALTER TABLE {qn(model._meta.db_table)} ADD CONSTRAINT {qn(self.name)} "
            f"FOREIGN KEY ({qn(field.column)}) "  # type: ignore[union-attr]
            f"REFERENCES {qn(target.model._meta.db_table)} ({qn(target.column)}) "
            f"ON DELETE {self.on_delete} DEFERRABLE INITIALLY DEFERRED"
        )

    def constraint_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        # Inside CREATE TABLE the referenced table may not exist yet (it can come later in
        # the same migration), so the constraint is added once the migration's tables are.
        schema_editor.deferred_sql.append(self._statement(model, schema_editor))
        return ""  # nothing inline; CREATE TABLE skips empty definitions

    def create_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        return self._statement(model, schema_editor)

    def remove_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        assert model is not None
        qn = schema_editor.quote_name
        return f"ALTER TABLE {qn(model._meta.db_table)} DROP CONSTRAINT IF EXISTS {qn(self.name)}"

    def validate(self, *args: Any, **kwargs: Any) -> None:
        # Existence of the referenced row is checked by the form field and the database.
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ForeignKeyConstraint):
            return (self.name, self.field, self.on_delete) == (
                other.name,
                other.field,
                other.on_delete,
            )
        return super().__eq__(other)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__}: name={self.name!r} field={self.field!r} "
            f"on_delete={self.on_delete!r}>"
        )

    def deconstruct(self) -> Any:
        _path, args, kwargs = super().deconstruct()
        kwargs.update(field=self.field, on_delete=self.on_delete)
        return "beep_shared.db.constraints.ForeignKeyConstraint", args, kwargs
