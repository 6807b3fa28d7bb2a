"""Privileges of the better-auth server's database role (``BEEP_IAM["BETTER_AUTH_ROLE"]``).

better-auth works across organizations and sets no tenant, so its role has ``BYPASSRLS``; to
keep that reach small it gets DML on exactly the tables of the generated mapping
(:func:`beep_iam.better_auth.mapping.table_names`) and, where better-auth's schema has only some
of a table's columns (``user``: Django's own columns are not better-auth's), SELECT, INSERT and
UPDATE on exactly those columns
(:attr:`~beep_iam.better_auth.mapping.MappedTable.better_auth_columns`), USAGE on the row id
sequence its INSERTs draw from, and nothing else: no default privileges,
no membership in any role and no role is a member of it (the web role must never reach a
BYPASSRLS role).

Only a role the project names gets anything: with the setting unset, no role does, whatever
roles exist on the server. The statements here are the one source of the SQL, for the
migrations and for ``python manage.py better_auth_grants`` alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.utils import DatabaseError

from beep_iam.conf import SETTING_NAME, iam_settings
from beep_shared.db.role_grants import Quote, RoleGrantOperation

# The name the embedded server and the README create; the project's settings name it.
DEFAULT_ROLE = "beep_auth"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# Granted per column where better-auth has only some of a table's columns (DELETE is per row).
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
ROW_ID_SEQUENCE = "beep_row_id_seq"


def auth_role() -> str | None:
    """``BEEP_IAM["BETTER_AUTH_ROLE"]``; None (the default) grants nothing to anyone."""
    return iam_settings().better_auth_role


def column_limits() -> dict[str, list[str]]:
    """The mapping's tables better-auth may use only in part: table -> its columns."""
    from beep_iam.better_auth import mapping

    return {
        table.name: [column.name for column in table.better_auth_columns]
        for table in mapping.tables()
        if len(table.better_auth_columns) < len(table.columns)
    }


def _on(tables: Sequence[str], qn: Quote) -> str:
    return ", ".join(qn(table) for table in tables)


def column_grant(role: str, table: str, columns: Sequence[str], qn: Quote) -> str:
    cols = ", ".join(qn(column) for column in columns)
    privileges = ", ".join(f"{privilege} ({cols})" for privilege in COLUMN_PRIVILEGES)
    return f"GRANT {privileges}, DELETE ON TABLE {qn(table)} TO {qn(role)}"


def grant_statements(
    role: str,
    schema: str,
    tables: Sequence[str],
    qn: Quote,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Grants on ``tables``; those in ``columns`` only on the columns listed there."""
    columns = columns or {}
    r, s = qn(role), qn(schema)
    whole = [table for table in tables if table not in columns]
    statements = [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT USAGE ON SEQUENCE {s}.{qn(ROW_ID_SEQUENCE)} TO {r}",
    ]
    if whole:
        statements.append(f"GRANT {TABLE_PRIVILEGES} ON TABLE {_on(whole, qn)} TO {r}")
    statements += [column_grant(role, table, columns[table], qn) for table in columns]
    return statements


def revoke_statements(role: str, schema: str, tables: Sequence[str], qn: Quote) -> list[str]:
    r, s = qn(role), qn(schema)
    # A table-level REVOKE also takes the role's privileges on the table's columns.
    return [
        f"REVOKE {TABLE_PRIVILEGES} ON TABLE {_on(tables, qn)} FROM {r}",
        f"REVOKE USAGE ON SEQUENCE {s}.{qn(ROW_ID_SEQUENCE)} FROM {r}",
    ]


def setup_script(
    role: str,
    schema: str,
    tables: Sequence[str],
    qn: Quote,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """SQL a superuser runs on a server the embedded bootstrap does not manage."""
    create = (
        f"CREATE ROLE {qn(role)} LOGIN PASSWORD '...' BYPASSRLS "
        "NOSUPERUSER NOCREATEDB NOCREATEROLE;"
    )
    statements = grant_statements(role, schema, tables, qn, columns)
    return "\n".join([create, *(f"{s};" for s in statements)])


class GrantBetterAuthPrivileges(RoleGrantOperation):
    """Grant the better-auth role DML on ``tables`` (the mapping's tables at this migration).

    A no-op when no role is configured or it does not exist yet; then run the SQL of
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


class LimitBetterAuthColumns(RoleGrantOperation):
    """Narrow the better-auth role's SELECT, INSERT and UPDATE on whole tables to ``columns``
    (table -> the columns better-auth has at this migration); DELETE stays. Backwards, the
    whole tables again.
    """

    def __init__(self, columns: Mapping[str, Sequence[str]]) -> None:
        self.columns = {table: list(cols) for table, cols in columns.items()}

    def role(self) -> str | None:
        return auth_role()

    def _revoke_table_wide(self, role: str, qn: Quote) -> str:
        tables = _on(list(self.columns), qn)
        return f"REVOKE {', '.join(COLUMN_PRIVILEGES)} ON TABLE {tables} FROM {qn(role)}"

    def grants(self, role: str, schema: str, qn: Quote) -> list[str]:
        return [
            self._revoke_table_wide(role, qn),
            *(column_grant(role, table, cols, qn) for table, cols in self.columns.items()),
        ]

    def revokes(self, role: str, schema: str, qn: Quote) -> list[str]:
        tables = _on(list(self.columns), qn)
        return [
            self._revoke_table_wide(role, qn),
            f"GRANT {TABLE_PRIVILEGES} ON TABLE {tables} TO {qn(role)}",
        ]

    def describe(self) -> str:
        return f"Limit the better-auth role to its columns of {', '.join(self.columns)}"

    @property
    def migration_name_fragment(self) -> str:
        return "better_auth_columns"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            "beep_iam.better_auth.grants.LimitBetterAuthColumns",
            [],
            {"columns": self.columns},
        )


def _table_privileges(role: str, databases: Any) -> Iterator[tuple[Any, int, int]]:
    """Per reachable PostgreSQL database of ``databases``: its connection, how many of
    better-auth's tables it has and on how many ``role`` holds privileges (0 and 0 where the
    role does not exist)."""
    from beep_iam.better_auth import mapping

    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT count(*), count(*) FILTER (
                      WHERE has_table_privilege(%s, c.oid, 'DELETE')
                         OR has_any_column_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE'))
                    FROM pg_class c
                    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                      AND c.relname = ANY(%s)
                      AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)
                    """,
                    [role, role, mapping.table_names(), role],
                )
                tables, granted = cursor.fetchone()
        except DatabaseError:
            continue  # beep_shared.E001 reports an unreachable database
        yield connection, tables, granted


def check_unnamed_role_privileges(
    app_configs: Any, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Before the setting existed, migrations granted any role named beep_auth; say so where
    such a role still holds privileges that the settings no longer ask for."""
    try:
        if not databases or auth_role() is not None:
            return []
    except ImproperlyConfigured:
        return []  # beep_iam.E001 reports it
    return [
        checks.Warning(
            f"The role {DEFAULT_ROLE!r} holds privileges on {granted} of better-auth's "
            f"tables in database {connection.settings_dict.get('NAME')!r}, but "
            f"{SETTING_NAME}['BETTER_AUTH_ROLE'] names no role (earlier versions "
            "granted a role of that name without being asked).",
            hint=(
                f"If a better-auth server logs in as it, set {SETTING_NAME}"
                f"['BETTER_AUTH_ROLE'] = {DEFAULT_ROLE!r}; otherwise revoke them: "
                f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {DEFAULT_ROLE}; "
                f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {DEFAULT_ROLE};"
            ),
            id="beep_iam.W030",
        )
        for connection, _, granted in _table_privileges(DEFAULT_ROLE, databases)
        if granted
    ]


def check_named_role_privileges(
    app_configs: Any, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``migrate`` grants the role its tables only when the role exists as the migrations
    run: say so where the named role holds privileges on fewer of better-auth's tables than
    the database has (named or created after them)."""
    try:
        role = auth_role() if databases else None
    except ImproperlyConfigured:
        return []  # beep_iam.E001 reports it
    if role is None:
        return []
    return [
        checks.Warning(
            f"{SETTING_NAME}['BETTER_AUTH_ROLE'] names {role!r}, which holds privileges "
            f"on {granted} of the {tables} better-auth tables in database "
            f"{connection.settings_dict.get('NAME')!r}: migrate grants them only to a "
            "role that exists as the migrations run.",
            hint="Have a superuser run the SQL that `python manage.py better_auth_grants` prints.",
            id="beep_iam.W031",
        )
        for connection, tables, granted in _table_privileges(role, databases)
        if granted < tables
    ]
