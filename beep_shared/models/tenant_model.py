"""``TenantModel``: the abstract base of every tenant-scoped table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models

from beep_shared.db.fields import ForeignKey
from beep_shared.models.base import Table
from beep_shared.rls import setup as rls_setup
from beep_shared.rls.sql import STANDARD

if TYPE_CHECKING:
    from django.db.models import QuerySet


class TenantModel(Table):
    """A row that belongs to one organization (column ``organization_id``).

    The database deletes the rows of an organization with it (``ON DELETE CASCADE``) and
    row level security shows a transaction only the rows of its tenant
    (:func:`beep_shared.rls.tenant_context`). ``rls_mode`` selects the policy:

    - ``"standard"`` (default): rows of the current organization only; no tenant, no rows.
    - ``"nullable"``: ``organization_id`` may be NULL and such rows are visible to every
      tenant (and with no tenant at all).
    - ``"none"``: no policy; the table is not isolated.

    It is a class attribute, not a ``Meta`` option, so a subclass that writes its own
    ``class Meta`` keeps it. The policy, the nullable column and an index on
    ``organization_id`` are added when the concrete model is prepared, so
    ``makemigrations`` writes them and writes a new migration when the mode changes.
    """

    rls_mode: ClassVar[str] = STANDARD

    organization = ForeignKey(
        "beep_shared.Organization",
        on_delete=models.CASCADE,
        related_name="%(class)ss",
    )

    class Meta:
        abstract = True

    @classmethod
    def extra_database_objects(cls) -> None:
        super().extra_database_objects()
        rls_setup.install(cls)

    @classmethod
    def tenant_memberships(cls, user: Any) -> QuerySet[Any] | None:
        """Rows of this table that give ``user`` access to their organization, or None.

        A membership table (``member``) overrides this; the admin's organization switcher
        offers a staff user the organizations found through it.
        """
        return None
