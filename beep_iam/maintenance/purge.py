"""Batched deletion of dead rows (expired tokens, old codes...) with flat memory.

A ``PurgeTarget`` names a table (a plain one: rows are addressed by ``ctid``), a SQL
condition selecting the rows to delete and an indexed ``key`` column to walk. ``purge()``
deletes in batches of ``batch_size`` rows, one statement and one transaction per batch, so
locks stay short and a crash keeps the work done. Each batch takes the next rows in ``key``
order starting at the previous batch's largest key, so the index scan never re-reads the
dead entries of earlier batches, and nothing but three counters ever reaches Python: memory
does not grow with the row count.

Other tables join by registering a target (see ``beep_iam.maintenance.targets``)::

    register(PurgeTarget(
        name="verification.expired",
        table="verification",
        key="expires_at",
        where="expires_at < %(now)s",
        description="verification values past their expiry",
    ))

``where`` is SQL over the table's own columns (qualify them with the table name inside
subqueries); it may use ``%(now)s`` and the values returned by ``params``. A literal
``%`` must be written ``%%``. The condition is re-checked by the ``DELETE`` itself, so a
row changed between the batch's lookup and its deletion is left alone if it no longer
qualifies.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

ParamsFn = Callable[[dt.datetime], dict[str, Any]]


def _no_params(now: dt.datetime) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class PurgeTarget:
    name: str
    table: str
    key: str
    where: str
    description: str = ""
    params: ParamsFn = field(default=_no_params, compare=False)

    def bind(self, now: dt.datetime) -> dict[str, Any]:
        return {"now": now, **self.params(now)}

    def _qn(self, connection: Any) -> tuple[str, str]:
        qn = connection.ops.quote_name
        return qn(self.table), qn(self.key)

    def count_sql(self, connection: Any) -> str:
        table, _ = self._qn(connection)
        return f"SELECT count(*) FROM {table} WHERE ({self.where})"

    def batch_sql(self, connection: Any, *, first: bool) -> str:
        table, key = self._qn(connection)
        floor = "" if first else f" AND {key} >= %(_floor)s"
        # Rows are deleted by ctid (a TID scan) rather than by id: that spares a primary
        # key probe per row and makes a batch about three times faster. A row updated
        # since the batch was read has a new ctid and is skipped, never deleted unchecked.
        return (
            f"WITH batch AS ("
            f"SELECT ctid AS purge_ctid, {key} AS purge_key FROM {table} "
            f"WHERE ({self.where}){floor} ORDER BY {key} LIMIT %(_limit)s"
            f"), gone AS ("
            f"DELETE FROM {table} "
            f"WHERE ctid = ANY(ARRAY(SELECT purge_ctid FROM batch)) AND ({self.where}) "
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
            raise KeyError(
                f"unknown purge target(s) {', '.join(unknown)}; known: {', '.join(self._targets)}"
            )
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
        cursor.execute(target.count_sql(connection), target.bind(now))
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
    params = {**target.bind(now), "_limit": batch_size, "_floor": None}
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
