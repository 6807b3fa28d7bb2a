"""``two_factor``: a user's TOTP secret and backup codes."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from beep_shared.db.fields import ForeignKey
from beep_shared.db.show_once import SecretField
from beep_shared.labels import related_label
from beep_shared.models import Table


class TwoFactor(Table):
    """The second factor of one user.

    ``secret`` and ``backup_codes`` are needed in clear (to compute TOTP codes and to compare
    backup codes), so they are stored as written by the auth layer and never displayed.
    One row per user: better-auth replaces the row when two-factor is enabled again, and a
    second row would leave it unclear which secret is in force, so the database refuses it.
    """

    secret = SecretField()
    backup_codes = SecretField()
    user = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factors"
    )

    class Meta:
        db_table = "two_factor"
        verbose_name = "two-factor setting"
        constraints = [
            # Also the index on user_id the reference asks for.
            models.UniqueConstraint(fields=["user"], name="two_factor_user_id_key"),
        ]

    def __str__(self) -> str:
        return f"two-factor of {related_label(self, 'user', 'email')}"
