"""One-row lookups run as server-side prepared statements on Django's connection.

Planning the token lookup costs PostgreSQL more than executing it, and Django turns off
psycopg's automatic statement preparation (``prepare_threshold=None``) for the benefit of
connection poolers. The few lookups that run on every API request go through
``fetch_one()`` instead: it prepares only the statements executed through it, on Django's
own connection, through Django's cursor wrapper, so transactions, execute wrappers and error
translation behave as with ``connection.cursor()``. The wrapper and its cursor are kept per
connection: building them costs about as much as the query. While queries are logged
(``DEBUG``, ``assertNumQueries``) lookups run unprepared, as Django can only render the SQL
of client-side bound statements.

``BEEP_IAM["PREPARED_LOOKUPS"]`` controls it: ``None`` (default) prepares unless the
database sets ``DISABLE_SERVER_SIDE_CURSORS`` (the usual sign of PgBouncer in transaction
mode, which before 1.21 could not route prepared statements); ``True`` / ``False`` force it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connections

from beep_iam.conf import iam_settings

# Any large value: with it set, only executions that pass prepare=True are prepared.
_EXPLICIT_ONLY = 1 << 30

# Django connection wrapper -> its cached cursor wrapper (connections are per thread).
_cursors: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class PreparingCursor(psycopg.Cursor):
    """A server-side binding cursor whose every ``execute`` is prepared.

    Results come in binary format: psycopg decodes it in C, while the text timestamptz
    loader Django installs is pure Python and would cost more than the rest of the call.
    """

    # Its statements read tables without row level security: with no tenant wished the RLS
    # wrapper sends nothing before them (beep_shared.rls.connection).
    rls_tenant_free = True

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        kwargs.setdefault("binary", True)
        conn = self.connection
        if conn.prepare_threshold is not None:
            return super().execute(query, params, **kwargs)
        # psycopg ignores prepare=True while preparation is off for the connection; lift
        # that for this one statement and restore it, so Django's queries stay unprepared.
        conn.prepare_threshold = _EXPLICIT_ONLY
        try:
            return super().execute(query, params, **kwargs)
        finally:
            conn.prepare_threshold = None


def _enabled(conn: Any) -> bool:
    if conn.vendor != "postgresql":
        return False
    setting = iam_settings().prepared_lookups
    if setting is not None:
        return setting
    return not conn.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)


def _preparing_cursor(conn: Any) -> Any:
    """The connection's cached wrapper, rebuilt when the connection was replaced."""
    cached = _cursors.get(conn)
    if (
        cached is not None
        and (conn.health_check_done or not conn.health_check_enabled)
        and cached.cursor.connection is conn.connection
    ):
        return cached
    # What connection.cursor() does, with our cursor class instead of the factory's.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    wrapper = conn.make_cursor(PreparingCursor(conn.connection))
    _cursors[conn] = wrapper
    return wrapper


def fetch_one(alias: str, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run ``sql`` (a prepared statement if enabled) on ``alias``; return its first row."""
    conn = connections[alias]
    # Logged queries (DEBUG, assertNumQueries) take the ordinary path: Django can only
    # render the SQL of client-side bound statements.
    if conn.queries_logged or not _enabled(conn):
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    wrapper = _preparing_cursor(conn)
    wrapper.execute(sql, params)
    # fetchone on the wrapper re-wraps the method on every call; results are already here.
    return wrapper.cursor.fetchone()
