"""``jwks``: the signing keys of the JWT / OIDC issuer."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from beep_shared.models import Table


class JwksQuerySet(models.QuerySet["Jwks"]):
    def active(self, now: datetime | None = None) -> JwksQuerySet:
        """Keys without an expiry or whose expiry lies after ``now``."""
        now = now or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def expired(self, now: datetime | None = None) -> JwksQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())


class Jwks(Table):
    """One key pair. ``private_key`` is the (auth layer's) serialised private key; it is
    never displayed, not even in the admin's change form."""

    public_key = models.TextField(help_text="Public JWK (JSON).")
    private_key = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # better-auth 1.7 additions.
    alg = models.TextField(null=True, blank=True, help_text="JWS algorithm, e.g. EdDSA.")
    crv = models.TextField(null=True, blank=True, help_text="Curve, e.g. Ed25519.")

    objects = JwksQuerySet.as_manager()

    SECRET_FIELDS = ("private_key",)

    class Meta:
        db_table = "jwks"
        verbose_name = "JSON web key"
        verbose_name_plural = "JSON web keys"

    def __str__(self) -> str:
        return f"key {self.pk}"
