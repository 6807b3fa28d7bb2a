"""The SQL of row level security: the tenant setting, the policy and its statements.

Everything that names ``app.current_org_id`` or spells the policy lives here, so the
migration operation, the tenant context, ``rls_status`` and the docs agree on one text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: The transaction-local setting the policies read; only ever set with ``SET LOCAL``
#: (that is ``set_config(..., true)``), never for the session (and reset for the session
#: with every commit, in case raw SQL set it).
TENANT_SETTING = "app.current_org_id"

STANDARD = "standard"
NULLABLE = "nullable"
NONE = "none"
MODES = (STANDARD, NULLABLE, NONE)

POLICY_PREFIX = "tenant_isolation_"

_ROLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

QuoteName = Callable[[str], str]


def current_tenant_sql() -> str:
    """The tenant of the current transaction as text, NULL when none is set (fail closed)."""
    return f"NULLIF(current_setting('{TENANT_SETTING}', TRUE), '')::text"


def policy_predicate(column: str, mode: str) -> str:
    """USING and WITH CHECK expression of the tenant policy for ``mode``."""
    match = f"{column} = {current_tenant_sql()}"
    if mode == STANDARD:
        return match
    if mode == NULLABLE:
        return f"{column} IS NULL OR {match}"
    raise ValueError(f"RLS mode {mode!r} has no policy; expected {STANDARD!r} or {NULLABLE!r}.")


def enable_statements(table: str, policy: str, column: str, mode: str, qn: QuoteName) -> list[str]:
    predicate = policy_predicate(qn(column), mode)
    return [
        f"ALTER TABLE {qn(table)} ENABLE ROW LEVEL SECURITY",
        # Without FORCE the table owner, which is the application's own role, would
        # silently bypass the policy (the reference system's weak spot).
        f"ALTER TABLE {qn(table)} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {qn(policy)} ON {qn(table)} AS PERMISSIVE FOR ALL TO PUBLIC "
        f"USING ({predicate}) WITH CHECK ({predicate})",
    ]


def disable_statements(table: str, policy: str, qn: QuoteName) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {qn(policy)} ON {qn(table)}",
        f"ALTER TABLE {qn(table)} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {qn(table)} DISABLE ROW LEVEL SECURITY",
    ]


def literal(value: str) -> str:
    """A SQL string literal. Callers pass validated ids or role names; quoting is defence."""
    if "\x00" in value:
        raise ValueError("NUL character in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


def validate_role_name(role: str) -> str:
    if not _ROLE_RE.fullmatch(role):
        raise ValueError(
            f"{role!r} is not a plain PostgreSQL role name (letters, digits, _ and $, "
            "starting with a letter or _, at most 63 characters)."
        )
    return role


def quote_role(role: str) -> str:
    return f'"{validate_role_name(role)}"'


def set_local_statements(tenant_id: str | None = None) -> list[str]:
    """The ``SET LOCAL`` statement for the tenant, local to the transaction.

    ``SET LOCAL name = value`` is ``set_config(name, value, true)`` without a query plan or
    a result row, the cheapest way to send it. ``tenant_id=None`` clears the tenant ('').
    """
    return [f"SET LOCAL {TENANT_SETTING} = {literal(tenant_id or '')}"]


def session_reset_statements(role: str | None = None) -> list[str]:
    """Undo session-level tenant, role and ``search_path`` changes (raw or injected ``SET``,
    ``set_config``).

    ``role``: the role the connection is meant to run as (``OPTIONS["assume_role"]``);
    None returns to the login role. ``search_path`` goes back to the session's default (the
    role's or database's, or ``OPTIONS["options"] = "-c search_path=..."``): a path that
    injected SQL set for the session would otherwise decide which tables the next request's
    unqualified names mean.
    """
    return [
        f"RESET {TENANT_SETTING}",
        f"SET ROLE {quote_role(role)}" if role else "RESET ROLE",
        "RESET search_path",
    ]


def revoke_temporary_statements(database: str, roles: tuple[str, ...] = ()) -> list[str]:
    """No temporary tables in ``database`` for anyone but its owner (and not for ``roles``,
    the web role when it owns the database): a temporary table outlives the transaction and
    shadows the table of its name for every later statement of the session (docs/rls.md,
    "Threat model"). Run by its owner or a superuser."""
    targets = ", ".join(["PUBLIC", *(quote_role(role) for role in roles)])
    quoted = '"' + database.replace('"', '""') + '"'
    return [f"REVOKE TEMPORARY ON DATABASE {quoted} FROM {targets}"]
