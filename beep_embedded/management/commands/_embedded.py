"""What the embedded_pg_* commands share: the data folder of DATABASES["default"]."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from beep_embedded.bootstrap import ENGINE


def embedded_data_dir() -> Path:
    default = settings.DATABASES["default"]
    if default.get("ENGINE") != ENGINE:
        raise CommandError(
            "DATABASES['default'] is not the embedded PostgreSQL server (DATABASE_URL is set?); "
            "unset DATABASE_URL to manage the embedded server."
        )
    return Path(default["PGDATA"])
