"""Privileges of the ``BYPASSRLS`` role on the application's tables.

``bypass_rls()`` runs on the bypass alias, which logs in as that role (``USER`` of the
alias); PostgreSQL checks *its* privileges. The application's role owns the tables (single
role setup) and is a member of no role, so the bypass role gets plain DML privileges on
the schema's tables and sequences, now and (through default privileges of the migrating
role) on tables migrations create later.
"""

from __future__ import annotations

from typing import Any

from beep_shared.db.role_grants import Quote, RoleGrantOperation
from beep_shared.rls.context import bypass_role

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"


def grant_statements(role: str, schema: str, qn: Any) -> list[str]:
    r, s = qn(role), qn(schema)
    return [
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {TABLE_PRIVILEGES} ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {r}",
    ]


def revoke_statements(role: str, schema: str, qn: Any) -> list[str]:
    r, s = qn(role), qn(schema)
    defaults = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE"
    return [
        f"{defaults} {SEQUENCE_PRIVILEGES} ON SEQUENCES FROM {r}",
        f"{defaults} {TABLE_PRIVILEGES} ON TABLES FROM {r}",
        f"REVOKE {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"REVOKE {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} FROM {r}",
    ]


class GrantBypassPrivileges(RoleGrantOperation):
    """Grant the bypass role DML on the current schema's tables, now and in the future.

    Does nothing when no bypass alias is configured or its role does not exist (on
    such servers run the SQL of docs/rls.md once the role is created).
    """

    def role(self) -> str | None:
        return bypass_role()

    def grants(self, role: str, schema: str, qn: Quote) -> list[str]:
        return grant_statements(role, schema, qn)

    def revokes(self, role: str, schema: str, qn: Quote) -> list[str]:
        return revoke_statements(role, schema, qn)

    def describe(self) -> str:
        return "Grant the RLS bypass role DML privileges on the schema's tables"

    @property
    def migration_name_fragment(self) -> str:
        return "rls_bypass_privileges"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return ("beep_shared.rls.bypass.GrantBypassPrivileges", [], {})
