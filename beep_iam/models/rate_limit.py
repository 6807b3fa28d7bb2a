"""``rate_limit``: request counters of the auth layer's rate limiter."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import models
from django.db.models import Q

from beep_shared.models import Table


class RateLimit(Table):
    """The request count of one limiter key (e.g. ``"<ip>/sign-in/email"``) in its window.

    ``last_request`` is a Unix time in milliseconds (bigint), as better-auth writes it. ``key``
    is required: a NULL key could never be looked up and would escape the unique constraint.
    """

    key = models.TextField()
    count = models.IntegerField(default=0, db_default=0)
    last_request = models.BigIntegerField(
        null=True, blank=True, help_text="Unix time of the last request, in milliseconds."
    )

    class Meta:
        db_table = "rate_limit"
        constraints = [
            models.UniqueConstraint(fields=["key"], name="rate_limit_key_key"),
            models.CheckConstraint(
                condition=Q(count__gte=0),
                name="rate_limit_count_non_negative",
                violation_error_message="count must be 0 or more.",
            ),
            models.CheckConstraint(
                condition=Q(last_request__isnull=True) | Q(last_request__gte=0),
                name="rate_limit_last_request_non_negative",
                violation_error_message="last_request must be a Unix time in milliseconds.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"

    @property
    def last_request_at(self) -> datetime | None:
        if self.last_request is None:
            return None
        return datetime.fromtimestamp(self.last_request / 1000, tz=UTC)
