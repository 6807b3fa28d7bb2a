"""What the database holds for each TenantModel table, compared with what its model asks for.

Used by ``manage.py rls_status``. The expected policy text is obtained from PostgreSQL
itself (:func:`expected_policies`), so the comparison does not depend on how a server
version prints expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models

from beep_shared.rls import sql
from beep_shared.rls.registry import tenant_models
from beep_shared.rls.setup import ORGANIZATION_FIELD, policy_name, rls_mode_of

POLICIES_SQL = """
SELECT polname, polpermissive, polcmd, polroles = '{0}'::oid[],
       pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
FROM pg_policy WHERE polrelid = %s::regclass ORDER BY polname
"""
TABLE_SQL = """
SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity, NOT a.attnotnull
FROM pg_class c LEFT JOIN pg_attribute a
  ON a.attrelid = c.oid AND a.attname = %s AND NOT a.attisdropped
WHERE c.oid = to_regclass(%s)
"""


@dataclass
class TableStatus:
    model: type[models.Model]
    table: str
    mode: str
    exists: bool = False
    rls: bool = False
    force: bool = False
    column_nullable: bool | None = None
    policies: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def ok(self) -> bool:
        return not self.problems


def _policies(cursor: Any, table: str) -> list[tuple[Any, ...]]:
    cursor.execute(POLICIES_SQL, [table])
    return list(cursor.fetchall())


def expected_policies(connection: Any, column: str = "organization_id") -> dict[str, tuple]:
    """mode -> (permissive, cmd, to public, USING, WITH CHECK) as this server deparses them.

    The server prints each mode's predicate as the filter of a scan of a text column of
    that name (``EXPLAIN``), which is how ``pg_get_expr()`` prints a policy's expression.
    Nothing is created: the web role may not create temporary tables (docs/rls.md, "Threat
    model").
    """
    qn = connection.ops.quote_name
    expected: dict[str, tuple] = {}
    with connection.cursor() as cursor:
        for mode in (sql.STANDARD, sql.NULLABLE):
            cursor.execute(
                "EXPLAIN (COSTS OFF) SELECT FROM pg_catalog.unnest(NULL::pg_catalog.text[])"
                f" AS probe({qn(column)}) WHERE {sql.policy_predicate(qn(column), mode)}"
            )
            (predicate,) = [
                line.strip().removeprefix(_FILTER)
                for (line,) in cursor.fetchall()
                if line.strip().startswith(_FILTER)
            ]
            expected[mode] = (True, "*", True, predicate, predicate)
    return expected


_FILTER = "Filter: "


def inspect(using: str = "default") -> list[TableStatus]:
    connection = connections[using]
    expected = expected_policies(connection)
    statuses = []
    with connection.cursor() as cursor:
        for model in tenant_models():
            statuses.append(_inspect_table(cursor, model, expected))
    return statuses


def _inspect_table(
    cursor: Any, model: type[models.Model], expected: dict[str, tuple]
) -> TableStatus:
    table = model._meta.db_table
    column = model._meta.get_field(ORGANIZATION_FIELD).column  # type: ignore[union-attr]
    status = TableStatus(model=model, table=table, mode=rls_mode_of(model))
    cursor.execute(TABLE_SQL, [column, connection_quote(table)])
    row = cursor.fetchone()
    if row is None:
        status.problems.append("table missing (run migrate)")
        return status
    _, status.rls, status.force, status.column_nullable = row
    status.exists = True
    found = {name: tuple(rest) for name, *rest in _policies(cursor, connection_quote(table))}
    status.policies = sorted(found)
    ours = policy_name(table)

    if status.mode == sql.NONE:
        if ours in found:
            status.problems.append(f"policy {ours} present although the mode is none")
        return status

    if not status.rls:
        status.problems.append("row level security disabled")
    if not status.force:
        status.problems.append("FORCE off: the owner bypasses the policy")
    if ours not in found:
        status.problems.append(f"policy {ours} missing")
    elif found[ours] != expected[status.mode]:
        status.problems.append(f"policy {ours} differs from the {status.mode} policy")
    for name, (permissive, *_rest) in found.items():
        if name != ours and permissive:
            status.problems.append(f"extra permissive policy {name} widens access")
    wants_null = status.mode == sql.NULLABLE
    if status.column_nullable is not None and status.column_nullable != wants_null:
        status.problems.append(
            f"{column} is {'NULL' if status.column_nullable else 'NOT NULL'}, "
            f"the {status.mode} mode wants {'NULL' if wants_null else 'NOT NULL'}"
        )
    return status


def connection_quote(table: str) -> str:
    """A regclass literal for ``table`` in the search path (quoted: names are case-sensitive)."""
    return '"' + table.replace('"', '""') + '"'
