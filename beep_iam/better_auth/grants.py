"""Privileges of the better-auth server's database role (``beep_auth`` by default).

better-auth works across organizations and sets no tenant, so its role has ``BYPASSRLS``; to
keep that reach small it gets DML on exactly the tables of the generated mapping
(:func:`beep_iam.better_auth.mapping.table_names`), USAGE on the row id sequence its INSERTs
draw from, and nothing else: no default privileges, no membership in any role and no role
is a member of it (the web role must never reach a BYPASSRLS role).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from beep_shared.db.role_grants import Quote, RoleGrantOperation

DEFAULT_ROLE = "beep_auth"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
ROW_ID_SEQUENCE = "beep_row_id_seq"


def auth_role() -> str | None:
    """``settings.BEEP_BETTER_AUTH_ROLE`` (default ``beep_auth``); None or '' turns grants off."""
    return getattr(settings, "BEEP_BETTER_AUTH_ROLE", DEFAULT_ROLE) or None


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


class GrantBetterAuthPrivileges(RoleGrantOperation):
    """Grant the better-auth role DML on ``tables`` (the mapping's tables at this migration).

    A no-op when the role is turned off or does not exist yet; then run the SQL of
    ``python manage.py better_auth_grants`` once the role exists.
    """

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)

    def role(self) -> str | None:
        return auth_role()

    def grants(self, role: str, schema: str, qn: Quote) -> list[str]:
        return grant_statements(role, schema, self.tables, qn)

    def revokes(self, role: str, schema: str, qn: Quote) -> list[str]:
        return revoke_statements(role, schema, self.tables, qn)

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
