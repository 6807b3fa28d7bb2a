"""Expiry: the one definition every table with an ``expires_at`` column uses.

A row is expired once ``expires_at <= now``; a NULL ``expires_at`` (on the tables that
allow it) never expires. ``ExpiringQuerySet`` says it in SQL (``expired()`` /
``unexpired()``), ``Expires`` on the instance (``expired_by(now)``, ``is_expired``), and
both read the same column, so the admin filters, the services, the purge targets and the
model agree to the microsecond at the boundary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

EXPIRY_FIELD = "expires_at"


def expired_condition(model: type[models.Model], now: datetime) -> Q:
    """Rows of ``model`` expired at ``now``."""
    return Q(**{f"{EXPIRY_FIELD}__lte": now})


def unexpired_condition(model: type[models.Model], now: datetime) -> Q:
    """Rows of ``model`` not expired at ``now`` (the exact complement of
    :func:`expired_condition`: a NULL expiry, where the column allows one, never expires)."""
    condition = Q(**{f"{EXPIRY_FIELD}__gt": now})
    if model._meta.get_field(EXPIRY_FIELD).null:
        condition |= Q(**{f"{EXPIRY_FIELD}__isnull": True})
    return condition


class ExpiringQuerySet(models.QuerySet[Any]):
    """QuerySet methods of a table with an ``expires_at`` column; ``now`` defaults to the
    current time."""

    def expired(self, now: datetime | None = None) -> Self:
        return self.filter(expired_condition(self.model, now or timezone.now()))

    def unexpired(self, now: datetime | None = None) -> Self:
        return self.filter(unexpired_condition(self.model, now or timezone.now()))


class Expires:
    """The instance side of :class:`ExpiringQuerySet` (mix into a model with ``expires_at``)."""

    expires_at: datetime | None

    def expired_by(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def is_expired(self) -> bool:
        return self.expired_by(timezone.now())
