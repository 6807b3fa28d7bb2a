"""Parsing of the environment variables the settings read, with one-sentence errors."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number of 0 or more.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, name: str = "DATABASE_URL") -> dict[str, Any]:
    """Parse ``DATABASE_URL`` (or the variable ``name``) into a Django database dict,
    PostgreSQL only."""
    import dj_database_url

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in {"postgres", "postgresql", "pgsql", "postgis"}:
        raise ImproperlyConfigured(
            f"{name} must be a PostgreSQL URL such as "
            "postgres://user:password@host:5432/dbname; "
            f"got {_redact(url)!r}."
        )
    try:
        config = dict(dj_database_url.parse(url))
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} {_redact(url)!r} could not be parsed ({exc}).") from exc
    if not config.get("NAME"):
        raise ImproperlyConfigured(
            f"{name} {_redact(url)!r} names no database; add it after the host, "
            "as in postgres://user@host:5432/dbname."
        )
    config["ENGINE"] = "django.db.backends.postgresql"
    return config


def _redact(url: str) -> str:
    """Hide the password of a URL so it never lands in an error message or a log."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
