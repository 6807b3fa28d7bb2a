"""System checks. Database checks run for ``migrate`` and ``check --database default``."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connections
from django.db.utils import OperationalError


@checks.register(checks.Tags.database)
def check_database_reachable(app_configs: Any, databases: Any = None, **kwargs: Any) -> list:
    errors: list[checks.CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        try:
            connection.ensure_connection()
        except OperationalError as exc:
            params = connection.settings_dict
            where = f"{params.get('HOST') or 'localhost'}:{params.get('PORT') or 5432}"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            errors.append(
                checks.Error(
                    f"Cannot connect to PostgreSQL database {params.get('NAME')!r} at {where} "
                    f"as {params.get('USER')!r}: {reason}",
                    hint="Check DATABASE_URL and that the server is running.",
                    id="beep_shared.E001",
                )
            )
    return errors
