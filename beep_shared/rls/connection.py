"""Applies the wanted scope to each transaction without a round trip of its own.

An execute wrapper, installed on every Django connection, compares the tenant the code
wants (:mod:`beep_shared.rls.scope`) with the one already applied in the current
transaction; every transaction starts as "unknown", so each one states its tenant (or
``''`` for none) whatever the session carries. When they differ it prefixes the statement with
``SET LOCAL app.current_org_id = '<org>';`` (``set_config(..., true)`` in SQL syntax) so
both travel in one simple-protocol message, then moves the cursor past the ``SET`` result.
``LOCAL`` limits the value to the transaction: a pooled or persistent connection never
carries it into the next one.

Where a prefix is impossible (``executemany``, server-side cursors, server-side
parameter binding, psycopg 2) the setting is sent as its own statement first, inside the
same transaction.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import NO_DB_ALIAS

from beep_shared.rls import sql as rls_sql
from beep_shared.rls.scope import wanted

try:
    import psycopg

    # Client-side binding sends one simple-protocol message, which may hold two statements.
    # Django's named (server-side) cursors are not ClientCursor subclasses.
    _CLIENT_CURSOR: tuple[type[Any], ...] = (psycopg.ClientCursor,)
except ImportError:  # pragma: no cover - psycopg 2: never prefixed
    _CLIENT_CURSOR = ()

# libpq transaction status (same numbers in psycopg 2 and 3).
_IDLE = 0
_INERROR = 3

# Transaction control: nothing is attached to these; the next statement carries the prefix.
_CONTROL_RE = re.compile(
    r"\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE)\b", re.IGNORECASE
)
# After these the settings of the transaction may have changed under us (a rollback to a
# savepoint restores older values; SET/RESET/DISCARD/set_config from raw SQL): apply again
# with the next statement.
_UNSETTLING_RE = re.compile(r"\s*(ROLLBACK|SET|RESET|DISCARD)\b", re.IGNORECASE)
_UNSETTLING_WORDS = ("ROLLBACK", "SET", "RESET", "DISCARD")
# set_config(name, value, true): transaction-local, like SET LOCAL.
_LOCAL_SET_CONFIG_RE = re.compile(r"set_config\s*\([^;]*,\s*true\s*\)")
# Statements PostgreSQL refuses inside a transaction block: never prefixed (a prefix would
# make the message one implicit transaction). None of them reads rows of a table.
_NO_TRANSACTION_RE = re.compile(
    r"\s*(CREATE\s+DATABASE|DROP\s+DATABASE|VACUUM|ALTER\s+SYSTEM|(CREATE|DROP)\s+TABLESPACE"
    r"|(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|REINDEX\b.*\bCONCURRENTLY"
    r"|ALTER\s+TYPE\b.*\bADD\s+VALUE)",
    re.IGNORECASE | re.DOTALL,
)
_NO_TRANSACTION_WORDS = ("CREATE", "DROP", "VACUUM", "ALTER", "REINDEX")
# Session-level changes (not ``SET LOCAL``), which outlive the transaction.
_SESSION_SET_RE = re.compile(
    r"\s*(SET(?!\s+(LOCAL|TRANSACTION|CONSTRAINTS)\b)|RESET|DISCARD)\b", re.IGNORECASE
)


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown scope>"


UNKNOWN: Any = _Unknown()


class _State:
    """What this connection's current transaction has been told."""

    __slots__ = ("applied", "touched")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # A new transaction: whatever the session carries (a session-level SET from raw SQL,
        # another client's state through pgbouncer) is unknown, so the tenant is always sent.
        self.applied: str | _Unknown = UNKNOWN
        self.touched = False  # anything sent in this transaction yet?


_STATE_ATTR = "_beep_rls_state"


def state(connection: Any) -> _State:
    try:
        return connection.__dict__[_STATE_ATTR]
    except KeyError:
        connection.__dict__[_STATE_ATTR] = value = _State()
        return value


def applied(connection: Any) -> str | _Unknown:
    """The tenant id sent in the current transaction ('' for none), or UNKNOWN."""
    return state(connection).applied


def install(connection: Any) -> None:
    """Add the wrapper to a Django connection once. Idempotent.

    It goes first in ``execute_wrappers`` (outermost), so other wrappers see the statement
    that is really sent, and ``connection.execute_wrapper()`` blocks, which pop the *last*
    wrapper on exit, never remove it.
    """
    if apply_scope not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, apply_scope)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    # The no-database connection (CREATE/DROP DATABASE of the test runner) reads no tables.
    if connection.vendor == "postgresql" and connection.alias != NO_DB_ALIAS:
        state(connection).reset()
        install(connection)
        if connection.connection in _dirty:  # handed out again by a pool
            clean_session(connection)


def prefix_statements(want: str, have: str | _Unknown) -> list[str]:
    """The ``SET LOCAL`` statement turning tenant ``have`` into ``want`` ('' = none)."""
    return rls_sql.set_local_statements(want or None)


def _transaction_status(connection: Any) -> int:
    raw = connection.connection
    pgconn = getattr(raw, "pgconn", None)  # psycopg 3; ``info`` allocates an object per call
    return pgconn.transaction_status if pgconn is not None else raw.info.transaction_status


def apply_scope(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    connection = context["connection"]
    current = state(connection)
    raw = connection.connection
    status = _transaction_status(connection)
    if status == _IDLE:
        current.reset()  # this statement starts a transaction (psycopg's BEGIN or autocommit)
    want = wanted(connection.alias).organization_id or ""
    have = current.applied
    text = sql if isinstance(sql, str) else None  # psycopg ``sql.Composed`` is passed as is
    cursor: Any = context["cursor"].cursor
    if (
        want == have
        or status == _INERROR
        or (text is not None and _CONTROL_RE.match(text))
        # Fixed statements on tables without row level security (prepared token lookups):
        # with no tenant wished there is nothing to apply for them.
        or (not want and getattr(cursor, "rls_tenant_free", False))
        or (status == _IDLE and text is not None and _outside_transactions(text))
    ):
        try:
            return execute(sql, params, many, context)
        finally:
            if text is not None and _unsettling(text):
                _note_unsettling(current, raw, text)

    prefix = prefix_statements(want, have)
    current.touched = True
    try:
        if text is not None and not many and isinstance(cursor, _CLIENT_CURSOR):
            result = execute(";\n".join([*prefix, text]), params, many, context)
            for _ in prefix:
                cursor.nextset()  # past the SET results, to the statement's own result
        elif connection.get_autocommit():
            # Each statement is its own transaction; the setting must share one with it.
            with transaction.atomic(using=connection.alias):
                _send(raw, prefix)
                result = execute(sql, params, many, context)
        else:
            _send(raw, prefix)
            result = execute(sql, params, many, context)
    except BaseException:
        current.applied = UNKNOWN
        raise
    current.applied = want
    if text is not None and _unsettling(text):
        _note_unsettling(current, raw, text)
    return result


# Raw connections on which raw SQL may have changed session-level settings (``SET ROLE``,
# session ``SET app.current_org_id``). Kept by the psycopg connection, which a pool hands
# to the next Django connection.
_dirty: weakref.WeakSet[Any] = weakref.WeakSet()


def _note_unsettling(current: _State, raw: Any, text: str) -> None:
    if current.touched:
        current.applied = UNKNOWN
    lowered = text.lower()
    if _SESSION_SET_RE.match(text) or (
        "set_config" in lowered and _LOCAL_SET_CONFIG_RE.search(lowered) is None
    ):
        _dirty.add(raw)


def _outside_transactions(sql: str) -> bool:
    head = sql[:24].lstrip()[:8].upper()
    return head.startswith(_NO_TRANSACTION_WORDS) and _NO_TRANSACTION_RE.match(sql) is not None


def _unsettling(sql: str) -> bool:
    # Runs for every statement: look at the first word only, and only then use the regex.
    head = sql[:24].lstrip()[:9].upper()
    if head.startswith(_UNSETTLING_WORDS) and _UNSETTLING_RE.match(head) is not None:
        return True
    return "set_config" in sql or "SET_CONFIG" in sql


def _send(raw: Any, statements: list[str]) -> None:
    with raw.cursor() as cursor:
        cursor.execute(";\n".join(statements))


def restore(connection: Any) -> None:
    """Apply the current wish now, when leaving a scope inside an open transaction.

    Otherwise statements that bypass the wrapper (``cursor.copy()``, the raw psycopg
    connection) would run with the left scope's tenant until the next ordinary statement.
    """
    if connection.connection is None or connection.vendor != "postgresql":
        return
    status = _transaction_status(connection)
    if status in (_IDLE, _INERROR):
        return  # nothing carries over: the next transaction sends the tenant anyway
    current = state(connection)
    want = wanted(connection.alias).organization_id or ""
    if current.applied != want:
        _send(connection.connection, prefix_statements(want, current.applied))
        current.applied = want
        current.touched = True


def clean_session(connection: Any) -> None:
    """Undo session-level ``SET``s that raw SQL sent (end of a request).

    A persistent or pooled connection must not carry one request's ``SET ROLE`` or
    ``SET app.current_org_id`` into the next request.
    """
    raw = connection.connection
    if raw is None or raw not in _dirty:
        return
    if connection.in_atomic_block or _transaction_status(connection) != _IDLE:
        return  # someone's transaction is open (a test's): never end it; clean later
    _dirty.discard(raw)
    role = connection.settings_dict.get("OPTIONS", {}).get("assume_role")
    statements = [f"RESET {rls_sql.TENANT_SETTING}"]
    statements.append(f"SET ROLE {rls_sql.quote_role(role)}" if role else "RESET ROLE")
    try:
        _send(raw, statements)
        if not connection.get_autocommit():
            raw.commit()
    except Exception:
        # Whatever failed, the connection must not be reused with that state.
        connection.close()


def clean_sessions(**kwargs: Any) -> None:
    """``request_finished`` receiver: :func:`clean_session` on this thread's connections."""
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "postgresql":
            clean_session(connection)
