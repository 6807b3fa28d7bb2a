"""What the embedded_pg_* commands share: the data folder, refused when DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.embedded_postgres import data_dir


def embedded_data_dir() -> Path:
    if os.environ.get("DATABASE_URL", "").strip():
        raise CommandError(
            "DATABASE_URL is set, so the embedded PostgreSQL server is not in use; "
            "unset it to manage the embedded server."
        )
    return data_dir(Path(settings.BASE_DIR))
