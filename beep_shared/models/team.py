from __future__ import annotations

from typing import Any, ClassVar

import pgtrigger
from django.db import models
from django.db.models import Q

from beep_shared.models.tenant_model import TenantModel

# better-auth never writes a slug: an INSERT without one (the column's database default '')
# gets the name, slugified, plus the last 8 characters of the id (slugs are unique across
# organizations; names only within one).
DERIVE_SLUG = pgtrigger.Trigger(
    name="team_derive_slug",
    operation=pgtrigger.Insert,
    when=pgtrigger.Before,
    condition=pgtrigger.Q(new__slug__isnull=True) | pgtrigger.Q(new__slug=""),
    func=(
        "NEW.slug := coalesce(nullif(btrim(left(lower(regexp_replace(NEW.name, "
        "'[^a-zA-Z0-9]+', '-', 'g')), 200), '-'), ''), 'team') || '-' || right(NEW.id, 8); "
        "RETURN NEW;"
    ),
)


class Team(TenantModel):
    name = models.TextField()
    description = models.TextField(null=True, blank=True)
    slug = models.SlugField(
        max_length=255,
        default="",
        db_default="",
        help_text="Derived from the name when left empty.",
    )
    metadata = models.TextField(null=True, blank=True)
    logo = models.TextField(null=True, blank=True)
    # better-auth 1.7's seat counter; it keeps it itself (rows Django adds are not counted
    # until better-auth resynchronises it).
    member_count = models.IntegerField(default=0, db_default=0)

    base_triggers: ClassVar[list[Any]] = [*TenantModel.base_triggers, DERIVE_SLUG]

    class Meta:
        db_table = "team"
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="team_slug_key"),
            models.UniqueConstraint(fields=["organization", "name"], name="team_org_name_key"),
            models.CheckConstraint(
                condition=Q(member_count__gte=0),
                name="team_member_count_non_negative",
                violation_error_message="member_count must be 0 or more.",
            ),
        ]
        indexes = [models.Index(fields=["name"], name="team_name_idx")]

    def __str__(self) -> str:
        return self.name
