from __future__ import annotations

from django.db import models

from beep_shared.models.org_model import OrgModel


class Team(OrgModel):
    name = models.TextField()
    description = models.TextField(null=True, blank=True)
    slug = models.SlugField(max_length=255)
    metadata = models.TextField(null=True, blank=True)
    logo = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "team"
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="team_slug_key"),
            models.UniqueConstraint(fields=["organization", "name"], name="team_org_name_key"),
        ]
        indexes = [models.Index(fields=["name"], name="team_name_idx")]

    def __str__(self) -> str:
        return self.name
