"""Batched deletion of dead rows (expired tokens, old codes...) with flat memory.

A ``PurgeTarget`` names a function of ``now`` returning the queryset of rows to delete
(its model's own lifecycle methods, such as ``expired(now)``) and an indexed ``key`` column
to walk. ``purge()`` deletes in batches of ``batch_size`` rows, one statement and one
transaction per batch, so locks stay short and a crash keeps the work done. Each batch takes
the next rows in ``key`` order starting at the previous batch's largest key, so the index
scan never re-reads the dead entries of earlier batches, and nothing but three counters ever
reaches Python: memory does not grow with the row count.

Other tables join by registering a target (see ``beep_iam.maintenance.targets``)::

    register(PurgeTarget(
        name="verification.expired",
        rows=lambda now: Verification.objects.expired(now),
        key="expires_at",
        description="verification values past their expiry",
    ))

The queryset's condition is compiled into the batch statement (rows are addressed by
``ctid``, so the model's table must be a plain one), so it may filter on the table's own
columns and on subqueries (``Exists``), not on joined tables. The condition is re-checked by
the ``DELETE`` itself, so a row changed between the batch's lookup and its deletion is left
alone if it no longer qualifies.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.utils import timezone

RowsFn = Callable[[dt.datetime], QuerySet[Any]]

# A positional placeholder of Django's compiled SQL, or an escaped literal percent sign.
_PLACEHOLDER = re.compile(r"%%|%s")


@dataclass(frozen=True)
class PurgeTarget:
    name: str
    rows: RowsFn = field(compare=False)
    key: str
    description: str = ""

    def condition(self, connection: Any, now: dt.datetime) -> tuple[str, dict[str, Any]]:
        """The WHERE condition of ``rows(now)`` as SQL over the bare table name, with named
        placeholders (the batch statement uses it twice) and their values."""
        rows = self.rows(now)
        query = rows.query
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.compile(query.where)
        joined = [
            alias
            for alias, refs in query.alias_refcount.items()
            if refs and alias != query.base_table
        ]
        if joined or not sql:
            raise ValueError(
                f"purge target {self.name}: the rows must be chosen by a condition on "
                f"{rows.model._meta.db_table}'s own columns"
            )
        names = iter(range(len(params)))
        named = _PLACEHOLDER.sub(
            lambda m: m.group() if m.group() == "%%" else f"%(_w{next(names)})s", sql
        )
        return named, {f"_w{n}": value for n, value in enumerate(params)}

    def table(self, connection: Any) -> str:
        return connection.ops.quote_name(self.rows(timezone.now()).model._meta.db_table)

    def bind(self, now: dt.datetime, connection: Any = None) -> dict[str, Any]:
        """The statement parameters at ``now``."""
        return self.condition(connection or connections[DEFAULT_DB_ALIAS], now)[1]

    def count_sql(self, connection: Any) -> str:
        where, _ = self.condition(connection, timezone.now())
        return f"SELECT count(*) FROM {self.table(connection)} WHERE ({where})"

    def batch_sql(self, connection: Any, *, first: bool) -> str:
        # The text does not depend on ``now`` (only the parameters do).
        where, _ = self.condition(connection, timezone.now())
        table, key = self.table(connection), connection.ops.quote_name(self.key)
        floor = "" if first else f" AND {key} >= %(_floor)s"
        # Rows are deleted by ctid (a TID scan) rather than by id: that spares a primary
        # key probe per row and makes a batch about three times faster. A row updated
        # since the batch was read has a new ctid and is skipped, never deleted unchecked.
        return (
            f"WITH batch AS ("
            f"SELECT ctid AS purge_ctid, {key} AS purge_key FROM {table} "
            f"WHERE ({where}){floor} ORDER BY {key} LIMIT %(_limit)s"
            f"), gone AS ("
            f"DELETE FROM {table} "
            f"WHERE ctid = ANY(ARRAY(SELECT purge_ctid FROM batch)) AND ({where}) "
            f"RETURNING 1"
            f") SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM gone), "
            f"(SELECT max(purge_key) FROM batch)"
        )


class PurgeRegistry:
    """Purge targets by name, in registration order (the order ``purge`` runs them)."""

    def __init__(self) -> None:
        self._targets: dict[str, PurgeTarget] = {}

    def register(self, target: PurgeTarget) -> PurgeTarget:
        existing = self._targets.get(target.name)
        if existing is not None and existing != target:
            raise ValueError(f"a different purge target named {target.name!r} is registered")
        self._targets[target.name] = target
        return target

    def names(self) -> list[str]:
        return list(self._targets)

    def select(self, names: Iterable[str] | None = None) -> list[PurgeTarget]:
        if not names:
            return list(self._targets.values())
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in self._targets]
        if unknown:
            named = ", ".join(map(repr, unknown))
            raise KeyError(f"unknown purge target(s) {named}; known: {', '.join(self._targets)}")
        return [self._targets[n] for n in wanted]


registry = PurgeRegistry()
register = registry.register


@dataclass
class PurgeResult:
    target: PurgeTarget
    deleted: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.deleted / self.seconds if self.seconds > 0 else 0.0


def count(target: PurgeTarget, *, now: dt.datetime, using: str = DEFAULT_DB_ALIAS) -> int:
    """How many rows ``target`` would delete at ``now``."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(target.count_sql(connection), target.bind(now, connection))
        return int(cursor.fetchone()[0])


def purge(
    target: PurgeTarget,
    *,
    now: dt.datetime,
    batch_size: int,
    using: str = DEFAULT_DB_ALIAS,
    progress: Callable[[int], None] | None = None,
) -> PurgeResult:
    """Delete ``target``'s rows as of ``now`` in batches; ``progress(deleted_so_far)`` is
    called after each batch. Outside a transaction every batch commits on its own."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    connection = connections[using]
    params = {**target.bind(now, connection), "_limit": batch_size, "_floor": None}
    result = PurgeResult(target)
    started = time.perf_counter()
    first_sql = target.batch_sql(connection, first=True)
    next_sql = target.batch_sql(connection, first=False)
    first = True
    while True:
        with connection.cursor() as cursor:
            cursor.execute(first_sql if first else next_sql, params)
            selected, deleted, floor = cursor.fetchone()
        first = False
        result.batches += 1
        result.deleted += deleted
        stuck = deleted == 0 and floor == params["_floor"]
        params["_floor"] = floor
        if progress is not None:
            progress(result.deleted)
        # Fewer rows than asked: the key range is exhausted. A full batch that deleted
        # nothing without advancing the key consists of rows that failed the DELETE's
        # re-check (changed concurrently); retrying would select them again forever.
        if selected < batch_size or stuck:
            break
    result.seconds = time.perf_counter() - started
    return result
