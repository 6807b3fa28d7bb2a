"""Validators of the values inside a settings dictionary (``BEEP_SHARED``, ``BEEP_IAM``):
one wording of each rule for every app; each names the setting and key it refuses. For a key
of a nested dict, ``setting`` names the dict (``BEEP_IAM['OAUTH2_DPOP']``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured


def duration(setting: str, key: str, value: Any, *, allow_zero: bool = False) -> timedelta:
    """A ``timedelta`` or a whole number of seconds: positive, or zero too with
    ``allow_zero``. Messages quote the value as written (``-5``, not a normalised timedelta)."""
    given = value
    # bool is an int subclass; True seconds is certainly a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ImproperlyConfigured(
            f"{setting}[{key!r}] must be a timedelta or a whole number of seconds, got {given!r}."
        )
    if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        bound = "zero or more" if allow_zero else "positive"
        raise ImproperlyConfigured(f"{setting}[{key!r}] must be {bound}, got {given!r}.")
    return value


def choice(setting: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ImproperlyConfigured(
            f"{setting}[{key!r}] must be one of {', '.join(map(repr, allowed))}, got {value!r}."
        )
    return str(value)


def boolean(setting: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{setting}[{key!r}] must be True or False, got {value!r}.")
    return value
