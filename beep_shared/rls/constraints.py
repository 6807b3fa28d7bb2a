"""The tenant policy as a ``Meta.constraints`` entry, so migrations write and diff it."""

from __future__ import annotations

from typing import Any, cast

from django.db import models
from django.db.models.constraints import BaseConstraint

from beep_shared.rls import sql


class RowLevelSecurity(BaseConstraint):
    """``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` and the policy ``tenant_isolation_<table>``.

    Added to every concrete :class:`~beep_shared.models.TenantModel` whose mode is not
    ``"none"`` (see :func:`beep_shared.rls.setup.install`), never declared by hand.
    ``makemigrations`` writes it as an ``AddConstraint``; the mode is part of its
    deconstruction, so changing a model's ``rls_mode`` yields remove + add. Removing it
    drops the policy and turns row level security off again, so migrations reverse cleanly.
    """

    def __init__(
        self,
        *,
        name: str,
        mode: str = sql.STANDARD,
        field: str = "organization",
        violation_error_message: Any = None,
    ) -> None:
        if mode not in (sql.STANDARD, sql.NULLABLE):
            raise ValueError(
                f"RowLevelSecurity mode must be {sql.STANDARD!r} or {sql.NULLABLE!r}, not {mode!r}."
            )
        self.mode = mode
        self.field = field
        super().__init__(name=name, violation_error_message=violation_error_message)

    def _column(self, model: type[models.Model]) -> str:
        field = cast(models.Field, model._meta.get_field(self.field))
        return str(field.column)

    def _enable(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        assert model is not None
        statements = sql.enable_statements(
            model._meta.db_table,
            self.name,
            self._column(model),
            self.mode,
            schema_editor.quote_name,
        )
        return ";\n".join(statements)

    def constraint_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        # Inside CREATE TABLE (a squashed CreateModel): the policy needs the table first.
        schema_editor.deferred_sql.append(self._enable(model, schema_editor))
        return ""

    def create_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        return self._enable(model, schema_editor)

    def remove_sql(self, model: type[models.Model] | None, schema_editor: Any) -> str:
        assert model is not None
        statements = sql.disable_statements(
            model._meta.db_table, self.name, schema_editor.quote_name
        )
        return ";\n".join(statements)

    def validate(self, *args: Any, **kwargs: Any) -> None:
        # Enforced by PostgreSQL for the transaction's tenant; nothing to check in Python.
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowLevelSecurity):
            return (self.name, self.mode, self.field) == (other.name, other.mode, other.field)
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash((self.__class__, self.name, self.mode, self.field))

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}: name={self.name!r} mode={self.mode!r}>"

    def deconstruct(self) -> Any:
        _path, args, kwargs = super().deconstruct()
        kwargs["mode"] = self.mode
        if self.field != "organization":
            kwargs["field"] = self.field
        return "beep_shared.rls.constraints.RowLevelSecurity", args, kwargs
