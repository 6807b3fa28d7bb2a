"""Create the OpenID Connect signing key, or rotate it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from beep_iam.oauth2 import keys


class Command(BaseCommand):
    help = (
        "Create a new Ed25519 signing key in the jwks table (better-auth's jwt plugin form). "
        "Older keys stop signing and stay published in JWKS for the grace period."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        row = keys.create_key(expire_current=True)
        self.stdout.write(f"New signing key {row.pk} ({row.alg}, {row.crv}).")
