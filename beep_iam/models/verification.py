"""``verification``: short-lived values proving control of an email, phone or reset link."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from beep_shared.db.fields import ForeignIdField
from beep_shared.db.show_once import SecretField
from beep_shared.models import Table
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet


def typed_value(text: str, kind: str) -> dict[str, Any] | None:
    """The JSON object a one-time value of ``kind`` (its ``"type"``: an authorization code, a
    pushed request, a registration access token) holds; None for anything else the table
    holds under the same identifier: other values, other servers' rows, JSON nested past the
    parser's depth."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and value.get("type") == kind else None


class Verification(Expires, Table):
    """A value (OTP, token payload...) stored under an identifier until it expires.

    ``value`` is never displayed. ``identifier`` is not displayed whole either: better-auth
    puts the reset or magic-link token itself there (``"reset-password:<token>"``), so only
    :attr:`identifier_hint` is shown.
    """

    id = ForeignIdField()
    identifier = SecretField()
    value = SecretField()
    expires_at = models.DateTimeField()

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        db_table = "verification"
        # The reference also indexes identifier alone; the leading column of the first index
        # serves those lookups.
        indexes = [
            models.Index(fields=["identifier", "value"], name="verification_ident_value_idx"),
            models.Index(fields=["expires_at"], name="verification_expires_at_idx"),
        ]

    def __str__(self) -> str:
        return f"verification {self.identifier_hint}"

    @property
    def identifier_hint(self) -> str:
        """The identifier's namespace (``"reset-password:"``), then '…'. Nothing of an
        identifier without one: it may be a token itself (better-auth's magic links)."""
        namespace, sep, _ = (self.identifier or "").partition(":")
        return f"{namespace}:…" if sep else "…"
