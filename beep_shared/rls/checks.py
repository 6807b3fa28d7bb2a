"""System checks: is row level security really in force for the application's connection?

Database checks run for ``migrate`` and ``manage.py check --database default``.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError

from beep_shared.rls.context import bypass_role

ROLE_SQL = "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
# session_user: SET ROLE is allowed by the login role's memberships, also when Django's
# OPTIONS["assume_role"] has switched current_user to a role that is a member of nothing.
BYPASS_SQL = (
    "SELECT rolbypassrls, pg_has_role(session_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s"
)


def role_warnings(connection: Any) -> list[checks.CheckMessage]:
    """W010 when the connection's role ignores row level security."""
    with connection.cursor() as cursor:
        cursor.execute(ROLE_SQL)
        row = cursor.fetchone()
    if row is None:
        return []
    user, superuser, bypassrls = row
    if not (superuser or bypassrls):
        return []
    what = "a superuser" if superuser else "a role with BYPASSRLS"
    return [
        checks.Warning(
            f"Database {connection.alias!r} connects as {user!r}, {what}: PostgreSQL skips "
            "every row level security policy for it, so tenant isolation is silently off.",
            hint="Serve requests as an ordinary role (NOSUPERUSER NOBYPASSRLS): best one with "
            "DML only while migrations run as the tables' owner (MIGRATION_DATABASE_URL, "
            "README 'Your own server'), or the owner itself (FORCE ROW LEVEL SECURITY covers "
            "it); use beep_shared.rls.bypass_rls() for cross-tenant work.",
            id="beep_shared.W010",
        )
    ]


def bypass_warnings(connection: Any) -> list[checks.CheckMessage]:
    """W011 when BEEP_RLS_BYPASS_ROLE is set but unusable by the connection's role."""
    try:
        role = bypass_role()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="beep_shared.E011")]
    if role is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(BYPASS_SQL, [role])
        row = cursor.fetchone()
    if row is not None and row[0] and row[1]:
        return _bypass_privilege_warnings(connection, role)
    if row is None:
        problem = "does not exist"
    elif not row[0]:
        problem = "lacks the BYPASSRLS attribute"
    else:
        problem = "is not granted to the application's role"
    return [
        checks.Warning(
            f"BEEP_RLS_BYPASS_ROLE {role!r} {problem}; cross-tenant admin and maintenance "
            "will fail.",
            hint="Create it as described in docs/rls.md ('Bypass role') or unset the setting.",
            id="beep_shared.W011",
        )
    ]


PRIVILEGES_SQL = """
SELECT t FROM unnest(%s::text[]) AS t
WHERE to_regclass(quote_ident(t)) IS NOT NULL
  AND NOT (SELECT bool_and(has_table_privilege(%s, quote_ident(t), p))
           FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p)
ORDER BY t
"""


def _bypass_privilege_warnings(connection: Any, role: str) -> list[checks.CheckMessage]:
    from beep_shared.rls.status import org_models

    tables = [model._meta.db_table for model in org_models()]
    with connection.cursor() as cursor:
        cursor.execute(PRIVILEGES_SQL, [tables, role])
        missing = [row[0] for row in cursor.fetchall()]
    if not missing:
        return []
    return [
        checks.Warning(
            f"BEEP_RLS_BYPASS_ROLE {role!r} lacks privileges on {', '.join(missing)}; "
            "cross-tenant admin and maintenance will fail on them.",
            hint="Run the GRANT statements of docs/rls.md ('Bypass role') as the role that "
            "owns the tables (the migration grants them only if the role existed then).",
            id="beep_shared.W011",
        )
    ]


@checks.register(checks.Tags.database)
def check_row_level_security(app_configs: Any, databases: Any = None, **kwargs: Any) -> list:
    messages: list[checks.CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            messages += role_warnings(connection)
            if alias == DEFAULT_DB_ALIAS:
                messages += bypass_warnings(connection)
        except DatabaseError:
            continue  # unreachable: beep_shared.E001 reports it
    return messages
