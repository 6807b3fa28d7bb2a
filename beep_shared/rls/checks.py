"""System checks: is row level security really in force for the application's connection?

Database checks run for ``migrate`` and ``manage.py check --database default``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError

from beep_shared.rls.context import bypass_database_or_none
from beep_shared.rls.registry import tenant_models
from beep_shared.rls.routing import ROUTER, rls_database

ROLE_SQL = "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
# Superuser or BYPASSRLS roles the connection can become with SET ROLE: the login role's
# memberships decide, also when Django's OPTIONS["assume_role"] switched current_user.
REACHABLE_SQL = """
SELECT r.rolname, r.rolsuper FROM pg_roles r
WHERE (r.rolsuper OR r.rolbypassrls) AND r.rolname <> current_user
  AND pg_has_role(session_user, r.oid, 'MEMBER')
ORDER BY r.rolname
"""

TEMPORARY_SQL = "SELECT current_database(), has_database_privilege(current_database(), 'TEMPORARY')"


def role_warnings(connection: Any) -> list[checks.CheckMessage]:
    """W010 when the connection's role ignores row level security, W012 when it can become
    one that does (``SET ROLE`` through membership: one SQL injection away), W015 when it
    may create temporary tables (which outlive an injection on the server session)."""
    with connection.cursor() as cursor:
        cursor.execute(ROLE_SQL)
        row = cursor.fetchone()
        cursor.execute(REACHABLE_SQL)
        reachable = cursor.fetchall()
        cursor.execute(TEMPORARY_SQL)
        database, temporary = cursor.fetchone()
    if row is None:
        return []
    user, superuser, bypassrls = row
    hint = (
        "Serve requests as an ordinary role (NOSUPERUSER NOBYPASSRLS) that is a member of no "
        "superuser or BYPASSRLS role, best one with DML only while migrations run as the "
        "tables' owner (MIGRATION_DATABASE_URL, README 'Your own server'); use "
        "beep_shared.rls.bypass_rls() (the bypass alias, its own login) for cross-tenant "
        "work; see docs/rls.md, 'Database roles'."
    )
    messages: list[checks.CheckMessage] = []
    if superuser or bypassrls:
        what = "a superuser" if superuser else "a role with BYPASSRLS"
        messages.append(
            checks.Warning(
                f"Database {connection.alias!r} connects as {user!r}, {what}: PostgreSQL "
                "skips every row level security policy for it, so tenant isolation is "
                "silently off.",
                hint=hint,
                id="beep_shared.W010",
            )
        )
    if reachable:
        names = ", ".join(
            f"{name!r} ({'superuser' if is_super else 'BYPASSRLS'})" for name, is_super in reachable
        )
        messages.append(
            checks.Warning(
                f"Database {connection.alias!r} connects as {user!r}, which can SET ROLE to "
                f"{names}: any raw or injected SQL can switch off tenant isolation.",
                hint=f"REVOKE those roles FROM {user}. {hint}",
                id="beep_shared.W012",
            )
        )
    if temporary:
        qn = connection.ops.quote_name
        messages.append(
            checks.Warning(
                f"Database {connection.alias!r} connects as {user!r}, which may create "
                "temporary tables: injected SQL could leave one on a persistent or pooled "
                "server session that shadows the table of its name (member, user, "
                "oauth_access_token, ...) for every later request on that session.",
                hint=f"REVOKE TEMPORARY ON DATABASE {qn(database)} FROM PUBLIC, {qn(user)} (as the "
                "database's owner); README 'Your own server', docs/rls.md 'Threat model'.",
                id="beep_shared.W015",
            )
        )
    return messages


BYPASS_SQL = (
    "SELECT current_user, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user"
)


def bypass_warnings() -> list[checks.CheckMessage]:
    """W011 when the bypass alias cannot bypass row level security, W013 when it is a
    superuser, W014 when it lacks privileges on tenant tables."""
    try:
        alias = bypass_database_or_none()
    except ImproperlyConfigured:
        return []  # beep_shared.E030/E031 report it
    if alias is None:
        return []
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(BYPASS_SQL)
        row = cursor.fetchone()
    if row is not None and row[1] and not row[2]:
        return _bypass_privilege_warnings(row[0])
    hint = "Create the bypass role as described in docs/rls.md ('Database roles')."
    where = f"Database alias {alias!r} (BEEP_SHARED['RLS_BYPASS_DATABASE']) logs in as"
    if row is not None and row[2]:
        return [
            checks.Warning(
                f"{where} {row[0]!r}, which is a superuser (it needs only BYPASSRLS and DML).",
                hint=hint,
                id="beep_shared.W013",
            )
        ]
    return [
        checks.Warning(
            f"{where} {row[0] if row else '?'!r}, which lacks the BYPASSRLS attribute: "
            "cross-tenant admin and maintenance see no rows.",
            hint=hint,
            id="beep_shared.W011",
        )
    ]


def configuration_errors() -> list[checks.CheckMessage]:
    """E011: a setting of the retired role-switching design; E012: the router is missing."""
    errors: list[checks.CheckMessage] = []
    if getattr(settings, "BEEP_RLS_BYPASS_ROLE", None) is not None:
        errors.append(
            checks.Error(
                "BEEP_RLS_BYPASS_ROLE is no longer supported: the web role must not be able "
                "to switch to a BYPASSRLS role.",
                hint="Remove it; give the bypass role its own login and add it as "
                "DATABASES['bypass'] (or name the alias in BEEP_SHARED['RLS_BYPASS_DATABASE']), "
                "then "
                "REVOKE the bypass role FROM the application's role. See docs/rls.md, "
                "'Database roles'.",
                id="beep_shared.E011",
            )
        )
    try:
        configured = bypass_database_or_none() is not None
    except ImproperlyConfigured:
        return errors  # beep_shared.E030/E031 report it
    if configured and ROUTER not in [
        r if isinstance(r, str) else f"{type(r).__module__}.{type(r).__qualname__}"
        for r in settings.DATABASE_ROUTERS
    ]:
        errors.append(
            checks.Error(
                "A bypass database alias is configured but DATABASE_ROUTERS lacks "
                f"{ROUTER!r}: bypass_rls() would not reach it.",
                hint=f"Add {ROUTER!r} to DATABASE_ROUTERS.",
                id="beep_shared.E012",
            )
        )
    return errors


PRIVILEGES_SQL = """
SELECT t FROM unnest(%s::text[]) AS t
WHERE to_regclass(quote_ident(t)) IS NOT NULL
  AND NOT (SELECT bool_and(has_table_privilege(%s, quote_ident(t), p))
           FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p)
ORDER BY t
"""


def _bypass_privilege_warnings(role: str) -> list[checks.CheckMessage]:
    tables = [model._meta.db_table for model in tenant_models()]
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(PRIVILEGES_SQL, [tables, role])
        missing = [row[0] for row in cursor.fetchall()]
    if not missing:
        return []
    return [
        checks.Warning(
            f"The bypass role {role!r} lacks privileges on {', '.join(missing)}; "
            "cross-tenant admin and maintenance will fail on them.",
            hint="Run the GRANT statements of docs/rls.md ('Database roles') as the role that "
            "owns the tables (the migration grants them only if the role existed then).",
            id="beep_shared.W014",
        )
    ]


def check_bypass_configuration(app_configs: Any, **kwargs: Any) -> list:
    return configuration_errors()


def check_row_level_security(app_configs: Any, databases: Any = None, **kwargs: Any) -> list:
    messages: list[checks.CheckMessage] = []
    try:
        bypass_alias = bypass_database_or_none()
    except ImproperlyConfigured:
        bypass_alias = None  # beep_shared.E030/E031 report it
    try:
        serving = rls_database()
    except ImproperlyConfigured:
        serving = DEFAULT_DB_ALIAS  # beep_shared.E030 reports it
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql" or alias == bypass_alias:
            continue
        try:
            # The role rules are the request-serving role's: another alias (the tables'
            # owner that migrations run as, say) may create temporary tables, own tables.
            if alias == serving:
                messages += role_warnings(connection)
            if alias == DEFAULT_DB_ALIAS:
                messages += bypass_warnings()
        except DatabaseError:
            continue  # unreachable: beep_shared.E001 reports it
    return messages
