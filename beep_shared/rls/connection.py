"""Applies the wanted scope to every statement, and keeps the session itself clean.

Nothing here reads SQL to decide whether the tenant may have changed: raw SQL can hide a
``SET`` behind a comment, in a second statement or in a ``set_config`` call, so the wrapper
assumes any statement may have changed it.

- **Every statement** sent through a Django cursor carries the tenant the code wants
  (:mod:`beep_shared.rls.scope`): ``SET LOCAL app.current_org_id = '<tenant id>'`` (``''`` for
  none) goes in front of it, in the same simple-protocol message, and the cursor is moved
  past the ``SET`` result. No round trip of its own. Where a prefix is impossible
  (``executemany``, server-side cursors, server-side parameter binding, psycopg 2) the
  setting is sent as its own statement first, inside the same transaction.
- **Every commit** carries the session reset (``RESET app.current_org_id`` and ``RESET
  ROLE``, or ``SET ROLE`` to ``OPTIONS["assume_role"]``) in the ``COMMIT``'s own message,
  and every autocommit statement carries it after itself. Whatever raw SQL set for the
  session inside a transaction is undone when that transaction ends, so a persistent,
  pooled or pgbouncer-shared server connection goes back clean. A rolled back transaction
  undoes its own ``SET``s. Django's pool also resets each connection as it is returned.
- **A transaction's first statement** carries the ``BEGIN`` psycopg would send alone
  (``_folded_begin``): one round trip fewer per transaction.
- Entering or leaving a scope inside an open transaction sends the new tenant at once, for
  the statements that skip the wrapper (``cursor.copy()``, the raw psycopg connection).
- A server-side cursor (``QuerySet.iterator()``) reads its rows as it is fetched, under
  whatever tenant is current then: fetching under another scope than the declaring one is
  refused (:class:`TenantChangedError`), and the declaring tenant is stated again before a
  fetch when other statements ran in between.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.utils import debug_transaction

from beep_shared.rls import sql as rls_sql
from beep_shared.rls.scope import NO_SCOPE, TenantCheck, wanted

try:
    import psycopg
    from psycopg import errors as _pg_errors
    from psycopg import generators as _pg_generators
    from psycopg.pq import ExecStatus

    # Client-side binding sends one simple-protocol message, which may hold two statements.
    # Django's named (server-side) cursors are not ClientCursor subclasses.
    _CLIENT_CURSOR: tuple[type[Any], ...] = (psycopg.ClientCursor,)
    _FATAL_ERROR: Any = ExecStatus.FATAL_ERROR
except ImportError:  # pragma: no cover - psycopg 2: never prefixed
    _CLIENT_CURSOR = ()
    _pg_generators = None  # type: ignore[assignment]

# libpq transaction status (same numbers in psycopg 2 and 3).
_IDLE = 0
_INTRANS = 2
_INERROR = 3

# Transaction control (Django's savepoints, a raw BEGIN): nothing goes in front of these.
# Only an optimisation: a prefix in front of a disguised one would do no harm either.
_CONTROL_RE = re.compile(
    r"\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE)\b", re.IGNORECASE
)
# Statements PostgreSQL refuses inside a transaction block: never prefixed (a prefix would
# make the message one implicit transaction). None of them reads rows of a table.
_NO_TRANSACTION_RE = re.compile(
    r"\s*(CREATE\s+DATABASE|DROP\s+DATABASE|VACUUM|ALTER\s+SYSTEM|(CREATE|DROP)\s+TABLESPACE"
    r"|(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|REINDEX\b.*\bCONCURRENTLY"
    r"|ALTER\s+TYPE\b.*\bADD\s+VALUE)",
    re.IGNORECASE | re.DOTALL,
)
_NO_TRANSACTION_WORDS = ("CREATE", "DROP", "VACUUM", "ALTER", "REINDEX")

_FETCHES = ("fetchone", "fetchmany", "fetchall")

# The tenant as a parameter: the same text whatever the tenant (see apply_scope).
_SET_TENANT_PARAM = f"SET LOCAL {rls_sql.TENANT_SETTING} = %s"


class TenantChangedError(RuntimeError):
    """A server-side cursor is fetched under another scope than the one that declared it."""


class _State:
    """Per Django connection: statements sent so far (server-side cursors compare it), the
    session reset of its settings, and whether checks may be prepared on its sessions."""

    __slots__ = ("prepares", "reset_sql", "sent")

    def __init__(self, connection: Any) -> None:
        self.sent = 0
        self.prepares = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
        role = connection.settings_dict.get("OPTIONS", {}).get("assume_role")
        self.reset_sql = ";\n".join(rls_sql.session_reset_statements(role))


_STATE_ATTR = "_beep_rls_state"


def state(connection: Any) -> _State:
    try:
        return connection.__dict__[_STATE_ATTR]
    except KeyError:
        connection.__dict__[_STATE_ATTR] = value = _State(connection)
        return value


def install(connection: Any) -> None:
    """Add the wrapper and the resetting commit to a Django connection once. Idempotent.

    The wrapper goes first in ``execute_wrappers`` (outermost), so other wrappers see the
    statement that is really sent, and ``connection.execute_wrapper()`` blocks, which pop
    the *last* wrapper on exit, never remove it.
    """
    if apply_scope not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, apply_scope)
    if "_commit" not in connection.__dict__:
        connection._commit = functools.partial(_commit, connection)
    if "_rollback" not in connection.__dict__:
        connection._rollback = functools.partial(_rollback, connection)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    # The no-database connection (CREATE/DROP DATABASE of the test runner) reads no tables.
    if connection.vendor == "postgresql" and connection.alias != NO_DB_ALIAS:
        connection.__dict__.pop(_STATE_ATTR, None)  # settings (assume_role) may have changed
        install(connection)
        _reset_on_checkin(connection)


def _reset_on_checkin(connection: Any) -> None:
    """Django's pool (``OPTIONS["pool"]``): reset every connection as it is returned.

    Commits already reset the session; this also covers what no commit sees (raw psycopg
    statements in autocommit mode). psycopg_pool runs it in its worker, after the request
    has returned the connection, so it costs the request nothing. A project's own
    ``reset`` runs after it.
    """
    pool = getattr(connection, "pool", None)  # Django >= 5.1
    own: Any = getattr(pool, "_reset", _MISSING)
    if pool is None or own is _MISSING or getattr(own, "beep_rls", False):
        return
    reset_sql = state(connection).reset_sql

    def reset(raw: Any) -> None:
        with raw.cursor() as cursor:
            cursor.execute(reset_sql)
        if not raw.autocommit:
            raw.commit()
        if own is not None:
            own(raw)
            # It may have dropped prepared statements (DISCARD ALL): prepare them again.
            _prepared.pop(raw, None)

    reset.beep_rls = True  # type: ignore[attr-defined]
    pool._reset = reset


_MISSING = object()


def _transaction_status(connection: Any) -> int:
    raw = connection.connection
    pgconn = getattr(raw, "pgconn", None)  # psycopg 3; ``info`` allocates an object per call
    return pgconn.transaction_status if pgconn is not None else raw.info.transaction_status


def _wanted_tenant(connection: Any) -> str:
    return wanted(connection.alias).tenant()


def wanted_tenant(connection: Any) -> str:
    """The tenant statements on ``connection`` run as now (``''``: none)."""
    return _wanted_tenant(connection)


class TenantRefused(PermissionDenied):
    """The scope's check (:class:`~beep_shared.rls.scope.TenantCheck`) refused its
    organization: the statement ran with no tenant, and no later one of the scope runs."""


def _refuse_if_refused(check: TenantCheck | None, organization: str | None) -> None:
    if check is not None and organization and check.granted == "":
        raise TenantRefused(f"may not work in {organization}")


def _read_check(cursor: Any, check: TenantCheck) -> None:
    """The check's answer, from its result set (the cursor stands on it)."""
    row = cursor.fetchone()
    check.granted = (row[0] if row else None) or ""


def passes_through(connection: Any, cursor: Any, scope: Any = None) -> bool:
    """Whether :func:`apply_scope` sends ``cursor``'s statements as they are: fixed statements
    on tables without row level security (the prepared token lookups, on every API request)
    with no tenant wished. A caller may then run them without the wrapper; only the count of
    statements sent is not kept for them, which matters to no one as they set no tenant."""
    if scope is None:
        scope = wanted(connection.alias)
    return scope is NO_SCOPE and getattr(cursor, "rls_tenant_free", False)


# Raw (psycopg) connections -> names of the checks prepared on their server session. A
# prepared statement lives as long as the session (a rollback keeps it), so the mark
# follows the raw connection, whichever Django connection (pool) uses it.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
# SQLSTATE of "prepared statement does not exist" (DEALLOCATE / DISCARD ALL ran since).
_NO_SUCH_STATEMENT = "26000"


def _may_drop_prepared(sql: Any) -> bool:
    """Whether the session may have lost its prepared statements after ``sql``: psycopg
    sends ``DEALLOCATE ALL`` after a ROLLBACK (also to a savepoint), DROP or ALTER once it
    has prepared statements of its own (psycopg._preparing), and DISCARD / DEALLOCATE drop
    them. Matched anywhere in the text: a false match only prepares the check once more. A
    DO block may run DEALLOCATE and PREPARE without naming them (injected SQL replacing the
    check)."""
    # Substring tests on the upper-cased text: a case-insensitive regular expression cost
    # about 15 times as much, on every statement.
    if not isinstance(sql, str):
        return True
    text = sql.upper()
    return (
        "ROLLBACK" in text
        or "DROP" in text
        or "ALTER" in text
        or "DISCARD" in text
        or "DEALLOCATE" in text
        or ("DO" in text and _DO_BLOCK_RE.search(text) is not None)
    )


# A DO statement (not ON CONFLICT's DO NOTHING / DO UPDATE), in upper-cased text.
_DO_BLOCK_RE = re.compile(r"\bDO\b(?!\s+(?:NOTHING|UPDATE)\b)")
# Sent before PREPARE: a statement of the check's name already there (injected SQL's, or
# the check's own after a false match above) is dropped, as DEALLOCATE has no IF EXISTS.
_DEALLOCATE_ANY = (
    "DO $$BEGIN EXECUTE 'DEALLOCATE {}'; EXCEPTION WHEN invalid_sql_statement_name THEN END$$"
)


def _check_statements(
    current: _State, raw: Any, check: TenantCheck, bind: bool = False, escape: bool = False
) -> tuple[list[str], list[str]]:
    """The statements that ask ``check`` (its answer is the last one's result) and, when
    ``bind``, their parameters (``%s``). ``escape``: the message has parameters, so any
    ``%`` of the statements' own is doubled."""
    statement = check.statement
    if not current.prepares:
        # PgBouncer in transaction mode (the sign Django documents for it): the session
        # changes between transactions, so nothing is prepared.
        inline = statement.inline_sql(check.args, rls_sql.literal)
        return [inline.replace("%", "%%") if escape else inline], []
    names = _prepared.get(raw)
    if names is None:
        names = _prepared[raw] = set()
    statements = []
    if statement.name not in names:
        # Marked before it is sent: a failure later in the message leaves it prepared
        # (statements run in order; a rollback keeps it). If it is missing after all,
        # EXECUTE fails, which counts as a refusal and unmarks it (_lost_prepared).
        names.add(statement.name)
        prepare = statement.prepare_sql
        statements.append(_DEALLOCATE_ANY.format(statement.name))
        statements.append(prepare.replace("%", "%%") if escape else prepare)
    if bind:
        statements.append(f"EXECUTE {statement.name}(%s, %s, %s)")
        return statements, list(check.args)
    args = ", ".join(rls_sql.literal(arg) for arg in check.args)
    statements.append(f"EXECUTE {statement.name}({args})")
    return statements, []


def _lost_prepared(raw: Any, check: TenantCheck, error: BaseException) -> None:
    """After a failed message asking ``check``: when the server lacked the check's statement
    (psycopg itself sends ``DEALLOCATE ALL`` after a rollback once it has prepared
    statements of its own; raw ``DISCARD ALL``), unmark it and refuse: the statements after
    it did not run, and the request is decided again the ordinary way (no server error)."""
    cause = error.__cause__ if error.__cause__ is not None else error
    name = check.statement.name
    if getattr(
        cause, "sqlstate", getattr(cause, "pgcode", None)
    ) == _NO_SUCH_STATEMENT and f'"{name}"' in str(cause):
        _prepared.get(raw, set()).discard(name)
        raise TenantRefused(f"the check {name} was not prepared on this session") from error


def apply_scope(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    connection = context["connection"]
    current = state(connection)
    current.sent += 1
    cursor: Any = context["cursor"].cursor
    if _may_drop_prepared(sql):
        _prepared.pop(connection.connection, None)
    scope = wanted(connection.alias)
    if passes_through(connection, cursor, scope):
        return execute(sql, params, many, context)
    status = _transaction_status(connection)
    text = sql if isinstance(sql, str) else None  # psycopg ``sql.Composed`` is passed as is
    check = scope.check
    organization = scope.tenant_id
    _refuse_if_refused(check, organization)
    want = scope.tenant()
    # The scope's check has not answered yet: it goes in front of this statement and states
    # the organization it asks about itself (access._build_check_statement).
    ask = check if check is not None and check.granted is None and organization else None
    if (
        status == _INERROR
        or (text is not None and _CONTROL_RE.match(text))
        # Fixed statements on tables without row level security (prepared token lookups):
        # with no tenant wished there is nothing to apply for them.
        or (not want and ask is None and getattr(cursor, "rls_tenant_free", False))
        or (status == _IDLE and text is not None and _outside_transactions(text))
    ):
        return execute(sql, params, many, context)

    raw = connection.connection
    if text is not None and not many and isinstance(cursor, _CLIENT_CURSOR):
        # Positional parameters: the tenant (and the check's arguments) go in as parameters
        # too, so the message's text is the same on every request and psycopg parses it
        # once (its cache of parsed statements is keyed by the text).
        bind = params is not None and not isinstance(params, Mapping)
        asked = 0
        if ask is not None:
            # The check states the organization itself before it reads the membership rows.
            parts, values = _check_statements(
                current, raw, ask, bind=bind, escape=params is not None
            )
            asked = len(parts)
        elif bind:
            parts = [_SET_TENANT_PARAM]
            values = [want]
        else:
            parts = rls_sql.set_local_statements(want)
            values = []
        parts.append(text)
        if connection.get_autocommit():
            # The message is its own transaction: it ends by resetting the session.
            parts.append(current.reset_sql)
        begin = _folded_begin(raw, status)
        if begin:
            parts.insert(0, begin)
        try:
            message = ";\n".join(parts)
            if begin:
                # psycopg would send its BEGIN alone, a round trip before this message.
                raw._autocommit = True
            try:
                result = execute(message, [*values, *params] if bind else params, many, context)
            finally:
                if begin:
                    raw._autocommit = False
        except Exception as error:
            if ask is not None:
                # The message failed before its answer could be read: treated as refused,
                # so the request is decided again the ordinary way.
                ask.granted = ""
                _lost_prepared(raw, ask, error)
            raise
        if begin:
            cursor.nextset()  # past BEGIN
        if ask is not None:
            for _ in range(asked - 1):
                cursor.nextset()  # past PREPARE
            _read_check(cursor, ask)
        cursor.nextset()  # past the SET result or the check's
        # The statement ran with no tenant if the check refused; its rows are not served.
        _refuse_if_refused(check, organization)
        return result
    if ask is not None:
        prefix = _check_statements(current, raw, ask)[0]
    else:
        prefix = rls_sql.set_local_statements(want)
    if connection.get_autocommit():
        # Each statement is its own transaction: the setting must share one with it (and
        # its commit resets the session).
        with transaction.atomic(using=connection.alias):
            _send(raw, prefix, ask)
            _refuse_if_refused(check, organization)
            result = execute(sql, params, many, context)
    else:
        _send(raw, prefix, ask)
        _refuse_if_refused(check, organization)
        result = execute(sql, params, many, context)
    if getattr(cursor, "name", None):  # a server-side cursor: rows come with later fetches
        _guard_fetches(context["cursor"], connection, scope.tenant())
    return result


def _folded_begin(raw: Any, status: int) -> str:
    """The ``BEGIN`` psycopg is about to send on its own before the transaction's first
    statement, to send in that statement's message instead (``''``: nothing to fold).

    Django's ``atomic()`` only turns psycopg's autocommit off; psycopg then starts the
    transaction with a ``BEGIN`` and its own round trip before the first statement. Here the
    first statement carries it, and psycopg is told it is in autocommit for that one call
    (its private ``_autocommit``, what its public setter writes once it has checked that no
    transaction is open, which is the case here). The text is psycopg's own (its
    ``_get_tx_start_command``: isolation level, access mode, deferrable). Only where both are
    psycopg 3's and the transaction is an ordinary one; otherwise psycopg sends its
    ``BEGIN`` as usual.
    """
    if status != _IDLE or vars(raw).get("_autocommit") is not False:
        return ""
    if getattr(raw, "_pipeline", None) is not None or getattr(raw, "_tpc", None):
        return ""
    start = getattr(raw, "_get_tx_start_command", None)
    return start().decode() if start is not None else ""


def _outside_transactions(sql: str) -> bool:
    head = sql[:24].lstrip()[:8].upper()
    return head.startswith(_NO_TRANSACTION_WORDS) and _NO_TRANSACTION_RE.match(sql) is not None


def _send(raw: Any, statements: list[str], check: TenantCheck | None = None) -> None:
    """Send ``statements`` (``check``, when given, is asked by the last of them: read its
    answer)."""
    with raw.cursor() as cursor:
        try:
            cursor.execute(";\n".join(statements))
        except Exception as error:
            if check is not None:
                check.granted = ""
                _lost_prepared(raw, check, error)
            raise
        if check is not None:
            for _ in statements[:-1]:
                cursor.nextset()
            _read_check(cursor, check)


def _commit(connection: Any) -> None:
    """Django's ``_commit`` with the session reset in the ``COMMIT``'s own message.

    Raw SQL may have set the tenant or the role for the session anywhere in the
    transaction; resetting them as the transaction ends leaves the connection clean for
    whoever uses it next (the next request, the pool, another pgbouncer client) without a
    round trip of its own.
    """
    raw = connection.connection
    if raw is None or _transaction_status(connection) != _INTRANS:
        # Nothing was sent (nothing to commit), or the transaction failed and COMMIT rolls
        # it back, with every SET made in it.
        return type(connection)._commit(connection)
    with debug_transaction(connection, "COMMIT"), connection.wrap_database_errors:
        _run_commands(raw, f"{state(connection).reset_sql};\nCOMMIT")


def _run_commands(raw: Any, sql: str) -> None:
    """Run ``sql``, statements that return no rows, in one message and without a cursor
    (what psycopg's own ``commit()`` does for its single ``COMMIT``): a cursor, its result
    sets and their bookkeeping cost a third of the request's row level security in Python.
    An error of any statement (a deferred constraint failing at ``COMMIT``) is raised as
    psycopg raises it."""
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is None or _pg_generators is None:  # pragma: no cover - psycopg 2
        with raw.cursor() as cursor:
            cursor.execute(sql)
        return
    with raw.lock:
        pgconn.send_query(sql.encode())
        results = raw.wait(_pg_generators.execute(pgconn))
    for result in results:
        if result.status == _FATAL_ERROR:
            raise _pg_errors.error_from_result(result, encoding=raw.info.encoding)


def _rollback(connection: Any) -> None:
    """Django's ``_rollback``; psycopg may follow it with ``DEALLOCATE ALL`` (see
    ``_may_drop_prepared``), so the session's checks are prepared again."""
    if connection.connection is not None:
        _prepared.pop(connection.connection, None)
    type(connection)._rollback(connection)


def apply_now(connection: Any, previous: str | None = None) -> None:
    """Send the current wish at once (entering or leaving a scope in an open transaction).

    Statements that bypass the wrapper (``cursor.copy()``, the raw psycopg connection)
    would otherwise run with the previous scope's tenant until the next ordinary statement.
    ``previous``: the tenant wished before the change; when the change keeps it (a nested
    block for the same organization, e.g. ``may_work_in`` inside the request's scope)
    nothing is sent: the server already holds what the outer block stated, and a round
    trip per nested block was a third of a request's cost.
    """
    if connection.connection is None or connection.vendor != "postgresql":
        return
    if previous is not None and previous == _wanted_tenant(connection):
        return
    if _transaction_status(connection) != _INTRANS:
        return  # no transaction yet (its first statement sends the tenant) or a failed one
    state(connection).sent += 1
    _send(connection.connection, rls_sql.set_local_statements(_wanted_tenant(connection)))


def _guard_fetches(wrapper: Any, connection: Any, declared: str) -> None:
    """Fetches of a server-side cursor run under its declaring tenant, or not at all."""
    current = state(connection)
    seen = [current.sent]

    def check() -> None:
        if _wanted_tenant(connection) != declared:
            raise TenantChangedError(
                "A server-side cursor (QuerySet.iterator()) declared as "
                f"{_describe(declared)} is fetched as {_describe(_wanted_tenant(connection))}: "
                "its rows are read as they are fetched, so they would be the other scope's. "
                "Consume the iterator inside the tenant_context() that started it, or fetch "
                "the rows (list(...)) before changing the scope."
            )
        if current.sent != seen[0] and _transaction_status(connection) == _INTRANS:
            # Other statements ran since the last fetch; any of them may have changed the
            # tenant. (Outside a transaction a held cursor's rows are already computed.)
            _send(connection.connection, rls_sql.set_local_statements(declared))
        seen[0] = current.sent

    for name in _FETCHES:
        wrapper.__dict__.pop(name, None)  # a re-executed cursor: guard the original again
        fetch = getattr(wrapper, name)

        def guarded(*args: Any, _fetch: Any = fetch, **kwargs: Any) -> Any:
            check()
            return _fetch(*args, **kwargs)

        setattr(wrapper, name, guarded)


def _describe(tenant: str) -> str:
    return f"tenant {tenant!r}" if tenant else "no tenant"
