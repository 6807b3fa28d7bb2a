"""Create an OpenID Connect signing key, or rotate one algorithm's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from beep_iam.oauth2 import keys


class Command(BaseCommand):
    help = (
        "Create a new signing key in the jwks table (better-auth's jwt plugin form) for one "
        "algorithm. That algorithm's older keys stop signing and stay published in JWKS for "
        "the grace period; other algorithms' keys are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--alg",
            choices=keys.ALGORITHMS,
            default=keys.ALG,
            help=f"the key's algorithm (default {keys.ALG})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        row = keys.create_key(alg=options["alg"], expire_current=True)
        shape = f", {row.crv}" if row.crv else ""
        self.stdout.write(f"New signing key {row.pk} ({row.alg}{shape}).")
