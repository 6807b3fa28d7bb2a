"""Checks of the project's own settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def check_secret_key(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        settings.SECRET_KEY  # noqa: B018  (Django refuses an empty one here)
    except ImproperlyConfigured:
        pass
    else:
        return []
    return [
        checks.Error(
            "SECRET_KEY is not set; set it in the environment, or set DEBUG=1 for local "
            "development with an insecure built-in key.",
            id="config.E001",
        )
    ]


def require_secret_key() -> None:
    """For the WSGI/ASGI entry points, which run no checks: refuse to serve without a key."""
    for error in check_secret_key(None):
        raise ImproperlyConfigured(error.msg)
