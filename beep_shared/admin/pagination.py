"""A paginator for large tables: it never counts more rows than it can show cheaply.

Django's paginator runs ``SELECT COUNT(*)`` over the whole (filtered) queryset on every
changelist page; on a table of a million rows that alone costs more than rendering the page.
:class:`LargeTablePaginator` counts at most ``exact_count_limit + 1`` rows (``COUNT(*)`` over a
``LIMIT`` subquery, so the scan stops early). Below the limit the count is exact; above it the
count is the query planner's row estimate (``EXPLAIN``, which also accounts for row level
security policies), marked as approximate so templates can say "about".
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Above this many rows (20 pages of 50) a count is reported as an estimate. Counting them
# through a LIMIT subquery costs well under a millisecond on an index, and a few milliseconds
# when a filter makes PostgreSQL scan the table for matches (ten times the limit, ten times
# that); small result sets, the ones people count, stay exact.
DEFAULT_EXACT_COUNT_LIMIT = 1_000

# PostgreSQL's OFFSET is a bigint: a page past it is refused here, not by the database.
MAX_OFFSET = 2**63 - 1


def last_page_number(per_page: int) -> int:
    """The largest page number whose rows an ``OFFSET`` can reach."""
    return MAX_OFFSET // max(per_page, 1)


def planner_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """The planner's estimate of how many rows ``queryset`` returns (``None`` if unknown)."""
    # Only the row count matters: no ordering, and one column keeps the SQL quick to build.
    query = queryset.order_by().values("pk").query
    try:
        sql, params = query.sql_with_params()
    except EmptyResultSet:  # ``.none()`` and the like have no SQL at all
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (LookupError, TypeError, ValueError):
        return None


class LargeTablePaginator(Paginator):
    """Exact counts up to ``exact_count_limit`` rows, planner estimates above.

    After :attr:`count` is read, :attr:`count_is_exact` tells whether it is exact and
    :attr:`count_qualifier` gives the word a template puts before it ("", "about" or
    "more than"). With an approximate count any page number from 1 up is accepted: the last
    pages may be empty, or there may be more rows than the links reach.
    """

    exact_count_limit = DEFAULT_EXACT_COUNT_LIMIT

    def __init__(self, object_list: Any, per_page: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.count_qualifier = ""

    @cached_property
    def count(self) -> int:
        objects = self.object_list
        if not isinstance(objects, QuerySet):
            return len(objects)
        limit = self.exact_count_limit
        # order_by(): the ordering does not change the count and would only cost a sort.
        counted = objects.order_by()[: limit + 1].count()
        if counted <= limit:
            return counted
        estimate = planner_row_estimate(objects)
        if estimate is None or estimate <= limit:
            # The planner underestimates this result; all we know is that it is larger.
            self.count_qualifier = "more than"
            return limit
        self.count_qualifier = "about"
        return estimate

    @property
    def count_is_exact(self) -> bool:
        _ = self.count  # counting sets the qualifier
        return not self.count_qualifier

    def validate_number(self, number: Any) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            # With an approximate count only "less than 1" is certainly out of range.
            if self.count_is_exact or int(number) < 1:
                raise
            if int(number) > last_page_number(self.per_page):
                raise EmptyPage(
                    f"Page numbers stop at {last_page_number(self.per_page)}."
                ) from None
            return int(number)

    def page(self, number: Any) -> Page:
        if self.count_is_exact:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        page = self.object_list[bottom : bottom + self.per_page]
        return self._get_page(page, number, self)  # type: ignore[attr-defined]
