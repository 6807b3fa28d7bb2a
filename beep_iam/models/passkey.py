"""``passkey``: WebAuthn credentials."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from beep_shared.db.fields import ForeignKey
from beep_shared.labels import related_label
from beep_shared.models import Table


class Passkey(Table):
    """A WebAuthn credential registered by a user.

    ``counter`` is the authenticator's signature counter: a value that does not grow signals a
    cloned authenticator, so it must never be negative.
    """

    name = models.TextField(null=True, blank=True)
    public_key = models.TextField(help_text="COSE public key of the credential (base64).")
    user = ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.TextField()
    counter = models.IntegerField(help_text="Signature counter reported by the authenticator.")
    device_type = models.TextField(help_text="'singleDevice' or 'multiDevice' (WebAuthn).")
    backed_up = models.BooleanField(default=False, db_default=False)
    transports = models.TextField(null=True, blank=True, help_text="Comma separated.")
    aaguid = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "passkey"
        constraints = [
            models.UniqueConstraint(fields=["credential_id"], name="passkey_credential_id_key"),
            models.CheckConstraint(
                condition=Q(counter__gte=0),
                name="passkey_counter_non_negative",
                violation_error_message="counter must be 0 or more.",
            ),
        ]
        indexes = [models.Index(fields=["user"], name="passkey_user_id_idx")]

    def __str__(self) -> str:
        return self.name or f"passkey of {related_label(self, 'user', 'email')}"
