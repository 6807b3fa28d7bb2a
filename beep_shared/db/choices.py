"""Enumerations stored as text and enforced by a CHECK constraint in the database."""

from __future__ import annotations

from django.db import models


def choices_check(
    table: str, field: str, choices: type[models.TextChoices]
) -> models.CheckConstraint:
    """A CHECK that keeps ``field`` within ``choices`` (NULL passes; nullability is separate).

    Raw SQL then cannot store a value the model would reject.
    """
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__in": choices.values}),
        name=f"{table}_{field}_valid",
        violation_error_message=f"{field} must be one of: {', '.join(choices.values)}.",
    )
