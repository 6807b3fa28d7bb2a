"""One-row lookups and the token writes run as server-side prepared statements on Django's
connection.

Planning the token lookup costs PostgreSQL more than executing it, and Django turns off
psycopg's automatic statement preparation (``prepare_threshold=None``) for the benefit of
connection poolers. The few lookups that run on every API request go through
``fetch_one()`` instead: it prepares only the statements executed through it, on Django's
own connection, so transactions, execute wrappers and error translation behave as with
``connection.cursor()``: through Django's cursor wrapper, or, when no execute wrapper would
act on the statement, straight to the cursor with the wrapper's checks and error translation
(a tool that patches ``CursorWrapper.execute`` to trace queries does not see those
lookups). The wrapper and its cursor are kept per connection: building them costs about as
much as the query. While queries are logged
(``DEBUG``, ``assertNumQueries``) lookups run unprepared, as Django can only render the SQL
of client-side bound statements.

``ModelLookup`` loads a model instance the same way: one row by a unique key, the SQL the ORM
compiles once per connection, the values through the fields' own converters and
``Model.from_db``, as a queryset would give them (the ORM spends more building the query and
the object than PostgreSQL spends answering: the client of every token request), with the
objects of a ``select_related`` and under a ``select_for_update`` where asked (the refresh
token under rotation, its client and user).

``insert()`` writes new instances the same way: the ``INSERT`` that ``save()`` would send,
compiled once per connection (``ModelInsert``), several rows and a data-modifying statement
before them (a rotation's revocation of the old token) in one statement, atomic without a
transaction of its own; the instances get the values the database returns.

``BEEP_IAM["PREPARED_LOOKUPS"]`` controls it: ``None`` (default) prepares unless the
database sets ``DISABLE_SERVER_SIDE_CURSORS`` (the usual sign of PgBouncer in transaction
mode, which before 1.21 could not route prepared statements); ``True`` / ``False`` force it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import psycopg
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models import QuerySet, Value, signals
from django.db.models.expressions import DatabaseDefault
from django.db.models.sql import InsertQuery
from psycopg import pq
from psycopg.adapt import Loader

from beep_iam.conf import iam_settings
from beep_shared.rls.connection import apply_scope, passes_through

ModelT = TypeVar("ModelT", bound=models.Model)

# Any large value: with it set, only executions that pass prepare=True are prepared.
_EXPLICIT_ONLY = 1 << 30

# Django connection wrapper -> its cached cursor wrapper (connections are per thread).
_cursors: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _JsonbAsText(Loader):
    """Binary ``jsonb`` as its JSON text, which is what Django's text loader gives
    ``JSONField`` to parse (psycopg's own binary loader would parse it first)."""

    format = pq.Format.BINARY

    def load(self, data: Any) -> str:
        return bytes(data[1:]).decode()  # a version byte, then the text


class PreparingCursor(psycopg.Cursor):
    """A server-side binding cursor whose every ``execute`` is prepared.

    Results come in binary format: psycopg decodes it in C, while the text timestamptz
    loader Django installs is pure Python and would cost more than the rest of the call.
    """

    # Its statements read tables without row level security: with no tenant wished the RLS
    # wrapper sends nothing before them (beep_shared.rls.connection).
    rls_tenant_free = True

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self.adapters.register_loader("jsonb", _JsonbAsText)

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
    cursor = wrapper.cursor
    wrappers = conn.execute_wrappers
    if not wrappers or (
        len(wrappers) == 1 and wrappers[0] is apply_scope and passes_through(conn, cursor)
    ):
        # Nothing would wrap the statement: what CursorWrapper.execute does around it, without
        # its layers (a fifth of the lookup's time on the client).
        conn.validate_no_broken_transaction()
        with conn.wrap_database_errors:
            cursor.execute(sql, params)
    else:
        wrapper.execute(sql, params)
    # fetchone on the wrapper re-wraps the method on every call; results are already here.
    return cursor.fetchone()


# A value no lookup is made with: it marks where the key goes in the compiled parameters.
_KEY = "\x00beep-lookup-key\x00"


def _convert(
    values: list[Any], converters: Sequence[tuple[int, list[Any], Any]], conn: Any, start: int = 0
) -> None:
    """Apply the compiler's converters (position, converters, expression) to ``values`` from
    ``start`` on, in place, as the ORM does to a row it loads."""
    for pos, convs, expression in converters:
        converted = values[start + pos]
        for convert in convs:
            converted = convert(converted, expression, conn)
        values[start + pos] = converted


class _Part(NamedTuple):
    """One model's columns in a lookup's row."""

    model: type[models.Model]
    positions: tuple[int, ...]  # of its values in the row
    attnames: list[str]
    #: Put a related object in its place on the looked-up one and, for a one-to-one, the
    #: looked-up one on it (``select_related``'s setters).
    setter: Callable[[Any, Any], None] | None = None
    back: Callable[[Any, Any], None] | None = None
    pk_position: int = 0  # of its primary key in ``positions``: None there means no object


class _Plan(NamedTuple):
    sql: str
    params: tuple[Any, ...]  # the compiled parameters, _KEY where the key goes
    parts: tuple[_Part, ...]  # the looked-up model first, then its related objects
    # (position, converters, expression) of the values that need converting
    converters: tuple[tuple[int, list[Any], Any], ...]
    width: int  # of a row: the columns the ORM selects


def _part(compiler: Any, info: dict[str, Any], related: bool = False) -> _Part:
    columns = [compiler.select[i][0] for i in info["select_fields"]]
    model = info["model"]
    attnames = [column.target.attname for column in columns]
    return _Part(
        model,
        tuple(info["select_fields"]),
        attnames,
        info["local_setter"] if related else None,
        info["remote_setter"] if related else None,
        attnames.index(model._meta.pk.attname) if related else 0,
    )


class ModelLookup(Generic[ModelT]):
    """The first row of ``query(key)`` as the ORM would load it (``.first()``), through
    :func:`fetch_one`. ``query`` builds a queryset of one model from an expression standing
    for the key; it is compiled once per connection. Related objects of ``select_related``
    (one level) come with it, ``select_for_update`` locks the row; annotations are computed
    for what they do (a lock) but not set on the object.

    As an expression the key skips the field's own preparation (an id field validates its
    form): look up values that come from rows or are checked before, not raw input."""

    def __init__(self, model: type[ModelT], query: Callable[[Any], QuerySet[ModelT]]) -> None:
        self.model = model
        self.query = query
        # Django connection wrapper -> its plan (converters may refer to the connection).
        self._plans: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()

    def _plan(self, conn: Any) -> _Plan:
        queryset = self.query(Value(_KEY))
        compiler = queryset.query.get_compiler(conn.alias)
        sql, params = compiler.as_sql()
        klass_info = compiler.klass_info
        related = (klass_info or {}).get("related_klass_infos") or []
        if (
            _KEY not in params
            or queryset.model is not self.model
            or klass_info is None
            or any(info.get("related_klass_infos") for info in related)
        ):
            raise ImproperlyConfigured(f"{self.query!r}: not a lookup of one model by a key")
        parts = (
            _part(compiler, klass_info),
            *(_part(compiler, info, related=True) for info in related),
        )
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        plan = _Plan(
            sql,
            tuple(params),
            parts,
            tuple((pos, convs, expr) for pos, (convs, expr) in converters.items()),
            len(compiler.select),
        )
        self._plans[conn] = plan
        return plan

    def get(self, key: Any, *, using: str | None = None) -> ModelT | None:
        """The instance for ``key`` on ``using`` (default: the router's database for
        reading), or None."""
        return self.get_with(key, using=using)[0]

    def get_with(
        self,
        key: Any,
        tail: str | None = None,
        tail_params: Sequence[Any] = (),
        *,
        using: str | None = None,
    ) -> tuple[ModelT | None, tuple[Any, ...]]:
        """:meth:`get`, and in the same statement the row of ``tail``, a query (with
        ``tail_params``) that may refer to nothing of the lookup's: its values, or a tuple
        of None when it finds no row (or nothing when there is no tail). A second lookup
        that rides on the first one's round trip."""
        alias = using or router.db_for_read(self.model)
        conn = connections[alias]
        plan = self._plans.get(conn) or self._plan(conn)
        params = tuple(key if p == _KEY else p for p in plan.params)
        sql = plan.sql
        if tail is not None:
            # The lookup's own columns first, as the plan reads them, then the tail's.
            sql = f"WITH found AS ({sql}) SELECT * FROM found "
            sql += f"LEFT JOIN LATERAL ({tail}) tail ON TRUE"
            params += tuple(tail_params)
        row = fetch_one(alias, sql, params)
        if row is None:
            return None, ()
        return self._load(alias, conn, plan, list(row[: plan.width])), tuple(row[plan.width :])

    def as_tail(self, key: Any, *, using: str) -> tuple[str, tuple[Any, ...]]:
        """This lookup as the ``tail`` and ``tail_params`` of another's :meth:`get_with` on
        ``using``; :meth:`from_tail` loads what it found."""
        conn = connections[using]
        plan = self._plans.get(conn) or self._plan(conn)
        return plan.sql, tuple(key if p == _KEY else p for p in plan.params)

    def from_tail(self, values: Sequence[Any], *, using: str) -> ModelT | None:
        """The instance in the tail values of a :meth:`get_with` that rode on
        :meth:`as_tail`, or None where it found no row."""
        conn = connections[using]
        plan = self._plans.get(conn) or self._plan(conn)
        main = plan.parts[0]
        pk = main.positions[main.attnames.index(self.model._meta.pk.attname)]
        if len(values) < plan.width or values[pk] is None:
            return None
        return self._load(using, conn, plan, list(values[: plan.width]))

    def _load(self, alias: str, conn: Any, plan: _Plan, values: list[Any]) -> ModelT:
        _convert(values, plan.converters, conn)
        main, *related = plan.parts
        found = main.model.from_db(alias, main.attnames, [values[i] for i in main.positions])
        for part in related:
            data = [values[i] for i in part.positions]
            other = None
            if data[part.pk_position] is not None:  # an outer join found no row
                other = part.model.from_db(alias, part.attnames, data)
            assert part.setter is not None and part.back is not None
            part.setter(found, other)
            if other is not None:
                part.back(other, found)
        return found  # type: ignore[return-value]


# --- inserts -------------------------------------------------------------------------------


class _InsertPlan(NamedTuple):
    sql: str  # INSERT ... VALUES (...) RETURNING ...
    fields: list[Any]  # whose values are the parameters, in order
    returning: list[Any]
    converters: tuple[tuple[int, list[Any], Any], ...]


class ModelInsert:
    """``INSERT`` of a model's rows as ``save(force_insert=True)`` sends it (the fields'
    ``pre_save``, ``get_db_prep_save`` and placeholders, database defaults, the values the
    database returns), compiled once per connection and per form of the values' SQL (which
    are left to the database's defaults, the fields' placeholders), and run by :func:`insert`
    as a prepared statement. Rows the compiled form cannot make as the ORM would (a value
    that is an expression, a ``pre_save`` / ``post_save`` receiver) are saved by the ORM."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.local_concrete_fields if not f.generated]
        self._placeholders = [getattr(f, "get_placeholder", None) for f in self.fields]
        # Django connection wrapper -> (a compiler for placeholders, plans by value form)
        self._plans: weakref.WeakKeyDictionary[
            Any, tuple[Any, dict[tuple[str, ...], _InsertPlan]]
        ] = weakref.WeakKeyDictionary()

    def plan(self, obj: models.Model, conn: Any) -> _InsertPlan | None:
        """The compiled statement for ``obj``, or None where only the ORM can save it."""
        if (
            type(obj) is not self.model
            or obj.pk is None
            or signals.pre_save.has_listeners(self.model)
            or signals.post_save.has_listeners(self.model)
        ):
            return None
        cached = self._plans.get(conn)
        if cached is None:
            cached = (InsertQuery(self.model).get_compiler(conn.alias), {})
            self._plans[conn] = cached
        compiler, plans = cached
        # What the compiler puts in VALUES for each field (SQLInsertCompiler.field_as_sql).
        form = []
        for f, placeholder in zip(self.fields, self._placeholders, strict=True):
            value = getattr(obj, f.attname)
            if isinstance(value, DatabaseDefault):
                form.append("DEFAULT")
            elif hasattr(value, "resolve_expression"):
                return None
            elif placeholder is not None:
                form.append(placeholder(value, compiler, conn))
            else:
                form.append("%s")
        key = tuple(form)
        plan = plans.get(key)
        if plan is None:
            query = InsertQuery(self.model)
            query.insert_values(self.fields, [obj])
            insert = query.get_compiler(conn.alias)
            returning = list(self.model._meta.db_returning_fields)
            insert.returning_fields = returning
            [(sql, _)] = insert.as_sql()
            table = self.model._meta.db_table
            converters = insert.get_converters([f.get_col(table) for f in returning])
            plan = _InsertPlan(
                sql,
                [f for f, sql_form in zip(self.fields, key, strict=True) if sql_form != "DEFAULT"],
                returning,
                tuple((pos, convs, expr) for pos, (convs, expr) in converters.items()),
            )
            plans[key] = plan
        return plan


@functools.cache
def _inserts(model: type[models.Model]) -> ModelInsert:
    return ModelInsert(model)


def insert(
    alias: str, objs: Sequence[models.Model], before: tuple[str, Sequence[Any]] | None = None
) -> None:
    """Insert ``objs`` (new instances with their primary keys set) as one statement, after
    the data-modifying statement ``before`` (SQL and parameters) in the same statement: one
    round trip, atomic without a transaction of its own. The instances get the values the
    database returns, as ``save()`` gives them."""
    conn = connections[alias]
    plans = [_inserts(type(obj)).plan(obj, conn) for obj in objs]
    if any(plan is None for plan in plans):
        with transaction.atomic(using=alias, savepoint=False):
            if before is not None:
                with conn.cursor() as cursor:
                    cursor.execute(*before)
            for obj in objs:
                obj.save(force_insert=True, using=alias)
        return
    params: list[Any] = [*before[1]] if before is not None else []
    statements = [] if before is None else [f"before AS ({before[0]})"]
    for i, (obj, plan) in enumerate(zip(objs, plans, strict=True)):
        assert plan is not None
        params += (f.get_db_prep_save(f.pre_save(obj, True), connection=conn) for f in plan.fields)
        statements.append(f"row{i} AS ({plan.sql})")
    if len(objs) == 1 and before is None:
        sql = plans[0].sql  # type: ignore[union-attr]
    else:
        sql = f"WITH {', '.join(statements)} SELECT * FROM " + ", ".join(
            f"row{i}" for i in range(len(objs))
        )
    row = fetch_one(alias, sql, params)
    assert row is not None
    values = list(row)
    start = 0
    for obj, plan in zip(objs, plans, strict=True):
        assert plan is not None
        _convert(values, plan.converters, conn, start)
        for field in plan.returning:
            setattr(obj, field.attname, values[start])
            start += 1
        obj._state.adding = False
        obj._state.db = alias


@functools.cache
def _users(model: type[models.Model]) -> ModelLookup[Any]:
    return ModelLookup(model, lambda key: model._default_manager.filter(pk=key))


def user_by_pk(pk: Any) -> Any:
    """The user (``AUTH_USER_MODEL``) whose primary key is ``pk``, or None: the token's user
    on the UserInfo endpoint, in ID tokens and on the resource side."""
    return _users(get_user_model()).get(pk)
