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


PLAIN_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@checks.register(checks.Tags.security)
def check_login_honours_user_validity(app_configs: Any, **kwargs: Any) -> list:
    """Django's own ModelBackend lets banned and soft-deleted users log in (and stay in)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", [PLAIN_MODEL_BACKEND]))
    if PLAIN_MODEL_BACKEND not in backends:
        return []
    if not hasattr(get_user_model(), "may_authenticate"):
        return []
    return [
        checks.Warning(
            "AUTHENTICATION_BACKENDS uses django.contrib.auth.backends.ModelBackend, which "
            "logs in banned and soft-deleted users.",
            hint="Use beep_shared.backends.UserBackend (or, with better-auth's passwords, "
            "beep_iam.better_auth.backends.CredentialAccountBackend) in its place.",
            id="beep_shared.W020",
        )
    ]
