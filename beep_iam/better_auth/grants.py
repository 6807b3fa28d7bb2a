"""Privileges of the better-auth server's database role (``beep_auth`` by default).

better-auth works across organizations and sets no tenant, so its role has ``BYPASSRLS``; to
keep that reach small it gets DML on exactly the tables of the generated mapping
(:func:`beep_iam.better_auth.mapping.table_names`), USAGE on the row id sequence its INSERTs
draw from, and nothing else: no default privileges, no membership in any role and no role
is a member of it (the web role must never reach a BYPASSRLS role).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db.migrations.operations.base import Operation

DEFAULT_ROLE = "beep_auth"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
ROW_ID_SEQUENCE = "beep_row_id_seq"


def auth_role() -> str | None:
    """``settings.BEEP_BETTER_AUTH_ROLE`` (default ``beep_auth``); None or '' turns grants off."""
    return getattr(settings, "BEEP_BETTER_AUTH_ROLE", DEFAULT_ROLE) or None


Quote = Callable[[str], str]


def _on(tables: Sequence[str], qn: Quote) -> str:
    return ", ".join(qn(table) for table in tables)


def grant_statements(role: str, schema: str, tables: Sequence[str], qn: Quote) -> list[str]:
    r, s = qn(role), qn(schema)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT USAGE ON SEQUENCE {s}.{qn(ROW_ID_SEQUENCE)} TO {r}",
        f"GRANT {TABLE_PRIVILEGES} ON TABLE {_on(tables, qn)} TO {r}",
    ]


def revoke_statements(role: str, schema: str, tables: Sequence[str], qn: Quote) -> list[str]:
    r, s = qn(role), qn(schema)
    return [
        f"REVOKE {TABLE_PRIVILEGES} ON TABLE {_on(tables, qn)} FROM {r}",
        f"REVOKE USAGE ON SEQUENCE {s}.{qn(ROW_ID_SEQUENCE)} FROM {r}",
    ]


def setup_script(role: str, schema: str, tables: Sequence[str], qn: Quote) -> str:
    """SQL a superuser runs on a server the embedded bootstrap does not manage."""
    create = (
        f"CREATE ROLE {qn(role)} LOGIN PASSWORD '...' BYPASSRLS "
        "NOSUPERUSER NOCREATEDB NOCREATEROLE;"
    )
    return "\n".join([create, *(f"{s};" for s in grant_statements(role, schema, tables, qn))])


class GrantBetterAuthPrivileges(Operation):
    """Grant the better-auth role DML on ``tables`` (the mapping's tables at this migration).

    A no-op when the role is turned off or does not exist yet; then run the SQL of
    ``python manage.py better_auth_grants`` once the role exists.
    """

    reversible = True
    reduces_to_sql = True
    elidable = False

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(schema_editor, grant_statements)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(schema_editor, revoke_statements)

    def _run(self, schema_editor: Any, statements: Any) -> None:
        role = auth_role()
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
        for statement in statements(role, schema, self.tables, schema_editor.quote_name):
            schema_editor.execute(statement)

    def describe(self) -> str:
        return f"Grant the better-auth role DML on {len(self.tables)} tables"

    @property
    def migration_name_fragment(self) -> str:
        return "better_auth_privileges"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            "beep_iam.better_auth.grants.GrantBetterAuthPrivileges",
            [],
            {"tables": self.tables},
        )
