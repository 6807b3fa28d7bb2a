"""``OrgModel``: the abstract base of every tenant-scoped table."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from beep_shared.db.fields import ForeignKey
from beep_shared.models.base import Table


class OrgModel(Table):
    """A row that belongs to one organization (column ``organization_id``).

    The database deletes the rows of an organization with it (``ON DELETE CASCADE``).
    ``rls_mode`` selects the row level security policy: ``"standard"`` (default),
    ``"nullable"`` (NULL organization rows are visible to every tenant) or ``"none"``.
    It is a class attribute, not a ``Meta`` option, so a subclass that writes its own
    ``class Meta`` keeps it.
    """

    rls_mode: ClassVar[str] = "standard"

    organization = ForeignKey(
        "beep_shared.Organization",
        on_delete=models.CASCADE,
        related_name="%(class)ss",
    )

    class Meta:
        abstract = True
