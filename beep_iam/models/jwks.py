"""``jwks``: the signing keys of the JWT / OIDC issuer."""

from __future__ import annotations

from django.db import models

from beep_shared.db.show_once import SecretField
from beep_shared.models import Table
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet


class Jwks(Expires, Table):
    """One key pair. ``private_key`` is the (auth layer's) serialised private key; it is
    never displayed, not even in the admin's change form."""

    public_key = models.TextField(help_text="Public JWK (JSON).")
    private_key = SecretField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # better-auth 1.7 additions.
    alg = models.TextField(null=True, blank=True, help_text="JWS algorithm, e.g. EdDSA.")
    crv = models.TextField(null=True, blank=True, help_text="Curve, e.g. Ed25519.")

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        db_table = "jwks"
        verbose_name = "JSON web key"
        verbose_name_plural = "JSON web keys"

    def __str__(self) -> str:
        return f"key {self.pk}"
