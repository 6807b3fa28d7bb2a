"""``makemigrations`` that never starts the embedded server for its optional history check."""

from __future__ import annotations

import warnings
from typing import Any

from django.core.management.commands import makemigrations

from beep_embedded.backend.base import attach_only


class Command(makemigrations.Command):
    def handle(self, *app_labels: Any, **options: Any) -> None:
        # Django checks the migration history of every database it can reach and only warns
        # when it cannot: against a stopped embedded server, there is no history to spoil.
        with attach_only(), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r".*embedded PostgreSQL server .* is not running"
            )
            super().handle(*app_labels, **options)
