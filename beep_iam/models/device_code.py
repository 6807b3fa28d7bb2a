"""``device_code``: pending authorizations of the OAuth device flow (RFC 8628), and their
user codes.

A person types the user code shown by a device, often in another case or with the separators
removed or added, so codes are stored and compared in one normal form: ASCII upper-case letters
and digits only. :class:`UserCodeField` applies that form wherever a value reaches the database
(save, ``update()``, ``bulk_create`` and lookups such as ``filter(user_code=...)``), and a CHECK
constraint on the column refuses anything else written by raw SQL.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from beep_shared.db.choices import choices_check
from beep_shared.db.fields import ForeignKey
from beep_shared.db.show_once import DigestField, ShowOnceMixin, digest_field
from beep_shared.models import Table
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet

# RFC 8628 section 6.1: a base-20 alphabet without vowels (no words) and without characters that
# are easily confused (0/O, 1/I/L, 5/S...), 8 characters long: about 34 bits of entropy.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8

# What the CHECK constraint on the column enforces (PostgreSQL ``~``, Python ``re``).
NORMALIZED_USER_CODE_PATTERN = r"^[A-Z0-9]+$"
_NORMALIZED = re.compile(NORMALIZED_USER_CODE_PATTERN)

# Whitespace, hyphens, underscores, dots and the Unicode dashes that keyboards and
# copy-paste produce; they carry no meaning in a code.
_SEPARATORS = re.compile(r"[\s\-_.\u2010-\u2015\u2212]+")


def normalize_user_code(raw: str) -> str:
    """``raw`` upper-cased with separators removed: ``"bcdf-ghjk"`` -> ``"BCDFGHJK"``.

    Characters outside A-Z and 0-9 other than separators are kept, so an invalid code stays
    invalid (see :func:`is_normalized_user_code`) rather than turning into a valid one.
    """
    return _SEPARATORS.sub("", raw).upper()


def is_normalized_user_code(value: str) -> bool:
    """Whether ``value`` is already in the stored form (what the database CHECK accepts)."""
    return _NORMALIZED.fullmatch(value) is not None


def generate_user_code(length: int = USER_CODE_LENGTH) -> str:
    """A random user code in normal form, drawn from :data:`USER_CODE_ALPHABET`."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(length))


def format_user_code(code: str, group: int = 4) -> str:
    """The code as shown to people: ``"BCDFGHJK"`` -> ``"BCDF-GHJK"``."""
    code = normalize_user_code(code)
    return "-".join(code[i : i + group] for i in range(0, len(code), group))


validate_user_code = RegexValidator(
    NORMALIZED_USER_CODE_PATTERN,
    message="user_code must contain only the letters A-Z and the digits 0-9 "
    "(case, spaces and '-' are ignored).",
    code="invalid_user_code",
)


class UserCodeField(models.TextField):
    """Text column holding a user code in normal form; normalises values on the way in."""

    description = "Device flow user code (upper-case letters and digits)"
    default_validators = [validate_user_code]

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return normalize_user_code(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        # Called for saves, update() and exact/in lookups alike, so a code typed as
        # "bcdf-ghjk" is written and matched as "BCDFGHJK".
        value = super().get_prep_value(value)
        return normalize_user_code(value) if isinstance(value, str) else value

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = normalize_user_code(value)
            setattr(model_instance, self.attname, value)
        return value


DEFAULT_DEVICE_CODE_LIFETIME = timedelta(minutes=30)
# RFC 8628 section 3.2's default of 5 seconds, stored in milliseconds as better-auth's
# device-authorization plugin stores and compares it (``Date.now() - lastPolledAt``).
DEFAULT_POLLING_INTERVAL = 5000
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
        null=True,
        blank=True,
        help_text="Minimum milliseconds between two polls (better-auth's unit).",
    )
    client_id = models.TextField(null=True, blank=True)
    scope = models.TextField(null=True, blank=True)
    # better-auth 1.7's oauthDeviceAuthorization() adds these two to the plugin's table.
    resources = ArrayField(
        models.TextField(),
        null=True,
        blank=True,
        help_text="RFC 8707 resources the device asked for, approved with the code; a poll "
        "may narrow them, never widen them.",
    )
    oauth_client_id = models.TextField(
        null=True,
        blank=True,
        help_text="Set on a code for the OAuth token endpoint (better-auth's first-party "
        "/device/token refuses such a code).",
    )

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
                violation_error_message="polling_interval must be more than 0 milliseconds.",
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

    @property
    def is_oauth_code(self) -> bool:
        """A code for the OAuth token endpoint (better-auth's oauthDeviceAuthorization()
        form); a first-party one (its deviceAuthorization(), no ``oauth_client_id``) mints a
        session at better-auth's /device/token and gets no OAuth tokens (its OAuth grant
        refuses it too)."""
        return self.oauth_client_id is not None and self.oauth_client_id == self.client_id

    def __str__(self) -> str:
        return f"device code {self.user_code} ({self.status})"
