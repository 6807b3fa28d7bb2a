"""Applies the wanted scope to each transaction without a round trip of its own.

An execute wrapper, installed on every Django connection, compares the scope the code
wants (:mod:`beep_shared.rls.scope`) with the one already applied in the current
transaction. When they differ it prefixes the statement with
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
from typing import Any

from django.db import transaction

from beep_shared.rls import sql as rls_sql
from beep_shared.rls.scope import NO_SCOPE, Scope, wanted

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
# savepoint restores older values; SET/RESET/DISCARD from raw SQL): apply again next time,
# unless nothing was sent in this transaction (then they can only restore the defaults).
_UNSETTLING_RE = re.compile(r"\s*(ROLLBACK|SET|RESET|DISCARD)\b", re.IGNORECASE)
_UNSETTLING_WORDS = ("ROLLBACK", "SET", "RESET", "DISCARD")


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
        # A new transaction starts from the defaults: no tenant, the connection's own role.
        self.applied: Scope | _Unknown = NO_SCOPE
        self.touched = False  # anything sent in this transaction yet?


_STATE_ATTR = "_beep_rls_state"


def state(connection: Any) -> _State:
    try:
        return connection.__dict__[_STATE_ATTR]
    except KeyError:
        connection.__dict__[_STATE_ATTR] = value = _State()
        return value


def applied(connection: Any) -> Scope | _Unknown:
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
    if connection.vendor == "postgresql":
        state(connection).reset()
        install(connection)


def prefix_statements(connection: Any, want: Scope, have: Scope | _Unknown) -> list[str]:
    """The ``SET LOCAL`` statements turning ``have`` into ``want``."""
    known = isinstance(have, Scope)
    return rls_sql.set_local_statements(
        want.organization_id,
        want.role,
        tenant=not known or have.organization_id != want.organization_id,  # type: ignore[union-attr]
        set_role=not known or have.role != want.role,  # type: ignore[union-attr]
        login_role=connection.settings_dict.get("OPTIONS", {}).get("assume_role"),
    )


def apply_scope(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    connection = context["connection"]
    current = state(connection)
    raw = connection.connection
    pgconn = getattr(raw, "pgconn", None)  # psycopg 3; ``info`` allocates an object per call
    status = pgconn.transaction_status if pgconn is not None else raw.info.transaction_status
    if status == _IDLE:
        current.reset()  # this statement starts a transaction (psycopg's BEGIN or autocommit)
    want = wanted(connection.alias)
    have = current.applied
    text = sql if isinstance(sql, str) else None  # psycopg ``sql.Composed`` is passed as is
    if want == have or status == _INERROR or (text is not None and _CONTROL_RE.match(text)):
        try:
            return execute(sql, params, many, context)
        finally:
            if current.touched and text is not None and _unsettling(text):
                current.applied = UNKNOWN

    prefix = prefix_statements(connection, want, have)
    cursor: Any = context["cursor"].cursor
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
    current.applied = UNKNOWN if text is not None and _unsettling(text) else want
    return result


def _unsettling(sql: str) -> bool:
    # Runs for every statement: look at the first word only, and only then use the regex.
    head = sql[:24].lstrip()[:9].upper()
    return head.startswith(_UNSETTLING_WORDS) and _UNSETTLING_RE.match(head) is not None


def _send(raw: Any, statements: list[str]) -> None:
    with raw.cursor() as cursor:
        cursor.execute(";\n".join(statements))
