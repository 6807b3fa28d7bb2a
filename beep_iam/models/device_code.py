"""``device_code``: pending authorizations of the OAuth device flow (RFC 8628)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from beep_iam.device_codes import (
    NORMALIZED_USER_CODE_PATTERN,
    UserCodeField,
    generate_user_code,
    is_normalized_user_code,
    normalize_user_code,
)
from beep_shared.db.choices import choices_check
from beep_shared.db.fields import ForeignKey
from beep_shared.db.show_once import DigestField, ShowOnceMixin, digest_field
from beep_shared.models import Table
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet

DEFAULT_DEVICE_CODE_LIFETIME = timedelta(minutes=30)
DEFAULT_POLLING_INTERVAL = 5  # seconds, RFC 8628 section 3.2
# 20^8 (2.6e10) possible codes: with a thousand live ones a draw collides with probability 4e-8,
# so a few retries make a failure practically impossible.
USER_CODE_ATTEMPTS = 5
USER_CODE_UNIQUE = "device_code_user_code_key"


class DeviceCodeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"


class DeviceCodeQuerySet(ShowOnceMixin, ExpiringQuerySet):
    def get_by_user_code(self, raw: str, *, include_expired: bool = False) -> DeviceCode | None:
        """The row whose user code is ``raw`` as a person typed it, or ``None``.

        Case and separators are ignored (``"bcdf ghjk"`` finds ``BCDFGHJK``). Expired rows are
        left out unless ``include_expired`` is set (to tell "expired" from "unknown").
        """
        code = normalize_user_code(raw)
        if not is_normalized_user_code(code):
            return None  # cannot be stored: no query needed
        rows = self if include_expired else self.unexpired()
        return rows.filter(user_code=code).select_related("user").first()

    def get_by_device_code(self, raw: str, *, include_expired: bool = False) -> DeviceCode | None:
        """The row of the raw device code a device polls with, or ``None``.

        Only the digest is stored, so the lookup goes by digest.
        """
        rows = self if include_expired else self.unexpired()
        return rows.by_secret(raw).first()

    def create_device_code(
        self,
        *,
        lifetime: timedelta = DEFAULT_DEVICE_CODE_LIFETIME,
        polling_interval: int | None = DEFAULT_POLLING_INTERVAL,
        **fields: Any,
    ) -> tuple[DeviceCode, str]:
        """Create a pending authorization; return it with the raw device code.

        The raw device code is handed to the device once and not stored anywhere; the user code
        is random (retried on the rare collision with a live code).
        """
        raw = digest_field(self.model).generate()
        for attempt in range(USER_CODE_ATTEMPTS):
            try:
                with transaction.atomic(using=self.db):
                    row, _ = self.create_with_secret(
                        raw=raw,
                        user_code=generate_user_code(),
                        expires_at=timezone.now() + lifetime,
                        polling_interval=polling_interval,
                        **fields,
                    )
            except IntegrityError as exc:
                clash = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
                if clash != USER_CODE_UNIQUE or attempt == USER_CODE_ATTEMPTS - 1:
                    raise
                continue
            return row, raw
        raise AssertionError("unreachable")


class DeviceCode(Expires, Table):
    """One device's request for authorization, identified by a device code and a user code.

    ``device_code`` holds the SHA-256 digest of the code the device polls with; ``user_code``
    is stored normalised (upper-case, no separators) and matched that way.
    """

    device_code = DigestField(help_text="SHA-256 digest (base64url) of the device code.")
    user_code = UserCodeField(help_text="Stored upper-case without separators.")
    user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="device_codes",
    )
    expires_at = models.DateTimeField()
    status = models.TextField(
        choices=DeviceCodeStatus.choices,
        default=DeviceCodeStatus.PENDING,
        db_default=DeviceCodeStatus.PENDING.value,
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    polling_interval = models.IntegerField(
        null=True, blank=True, help_text="Minimum seconds between two polls."
    )
    client_id = models.TextField(null=True, blank=True)
    scope = models.TextField(null=True, blank=True)

    objects = DeviceCodeQuerySet.as_manager()

    class Meta:
        db_table = "device_code"
        constraints = [
            models.UniqueConstraint(fields=["device_code"], name="device_code_device_code_key"),
            models.UniqueConstraint(fields=["user_code"], name=USER_CODE_UNIQUE),
            models.CheckConstraint(
                condition=Q(user_code__regex=NORMALIZED_USER_CODE_PATTERN),
                name="device_code_user_code_normalized",
                violation_error_message="user_code must be upper-case letters and digits only.",
            ),
            choices_check("device_code", "status", DeviceCodeStatus),
            models.CheckConstraint(
                condition=Q(polling_interval__isnull=True) | Q(polling_interval__gt=0),
                name="device_code_polling_interval_positive",
                violation_error_message="polling_interval must be more than 0 seconds.",
            ),
            models.CheckConstraint(
                condition=~Q(status=DeviceCodeStatus.APPROVED) | Q(user__isnull=False),
                name="device_code_approved_has_user",
                violation_error_message="An approved device code needs the approving user.",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="device_code_expires_at_idx"),
            # Not in the reference: without it, deleting a user scans the table for the cascade.
            models.Index(fields=["user"], name="device_code_user_id_idx"),
        ]

    def __str__(self) -> str:
        return f"device code {self.user_code} ({self.status})"
