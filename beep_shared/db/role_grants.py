"""A migration operation that grants a database role privileges, when that role exists.

Roles are made outside migrations (a superuser's job: the embedded bootstrap or the README's
SQL), so the operation grants only when its role is configured and present, and is a no-op
otherwise; the role's SQL can then be run by hand once it exists. Subclasses say which role
and which statements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.migrations.operations.base import Operation

Quote = Callable[[str], str]


class RoleGrantOperation(Operation):
    reversible = True
    reduces_to_sql = True
    elidable = False

    def role(self) -> str | None:
        """The role to grant to, or None when the deployment has none."""
        raise NotImplementedError

    def grants(self, role: str, schema: str, qn: Quote) -> list[str]:
        raise NotImplementedError

    def revokes(self, role: str, schema: str, qn: Quote) -> list[str]:
        raise NotImplementedError

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(schema_editor, self.grants)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(schema_editor, self.revokes)

    def _run(self, schema_editor: Any, statements: Callable[[str, str, Quote], list[str]]) -> None:
        role = self.role()
        if schema_editor.connection.vendor != "postgresql" or role is None:
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_schema(), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
                [role],
            )
            schema, exists = cursor.fetchone()
        if not exists:
            return
        for statement in statements(role, schema, schema_editor.quote_name):
            schema_editor.execute(statement)
