"""beep_shared settings: one ``BEEP_SHARED`` dict in Django settings, with defaults and
validation, in the same style as ``beep_iam.conf`` (``BEEP_IAM``).

```python
BEEP_SHARED = {
    "RLS_DATABASE": "default",          # the alias requests run on, as their tenant
    "RLS_BYPASS_DATABASE": None,        # the alias with a BYPASSRLS login; None: "bypass" if any
    "SESSION_LIFETIME": timedelta(days=7),  # or seconds as an int
    "SESSION_TOKEN_STORAGE": "digest",  # or "plain" (better-auth's own form)
}
```

Every key is described in docs/settings.md. Unknown keys and bad values raise
``ImproperlyConfigured`` naming the key; ``manage.py check`` reports them as well
(``beep_shared.E030``). The flat settings of earlier versions (``BEEP_RLS_DATABASE``,
``BEEP_RLS_BYPASS_DATABASE``, ``BEEP_SESSION_LIFETIME``) are refused with the key that replaces
them (``beep_shared.E031``) rather than silently ignored: ignoring a bypass alias or a session
lifetime someone set would change who sees what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS

from beep_shared import setting_values

SETTING_NAME = "BEEP_SHARED"
_duration = partial(setting_values.duration, SETTING_NAME)
_choice = partial(setting_values.choice, SETTING_NAME)

#: The alias ``RLS_BYPASS_DATABASE = None`` means when ``DATABASES`` has it.
BYPASS_ALIAS = "bypass"

DEFAULTS: dict[str, Any] = {
    "RLS_DATABASE": DEFAULT_DB_ALIAS,
    "RLS_BYPASS_DATABASE": None,
    "SESSION_LIFETIME": timedelta(days=7),
    "SESSION_TOKEN_STORAGE": "digest",
}

#: What ``session.token`` may hold. "digest": the SHA-256 digest, so a copy of the table opens
#: no session. "plain": the token itself, which a stock better-auth server stores and looks
#: sessions up by; sessions cross between the two servers only then.
SESSION_TOKEN_STORAGES = ("digest", "plain")

#: Flat settings read before ``BEEP_SHARED`` existed -> the key that replaced each.
FORMER_SETTINGS = {
    "BEEP_RLS_DATABASE": "RLS_DATABASE",
    "BEEP_RLS_BYPASS_DATABASE": "RLS_BYPASS_DATABASE",
    "BEEP_SESSION_LIFETIME": "SESSION_LIFETIME",
}


@dataclass(frozen=True)
class SharedSettings:
    rls_database: str
    #: The bypass alias, resolved: None when cross-tenant access is not configured.
    rls_bypass_database: str | None
    session_lifetime: timedelta
    session_token_storage: str = "digest"


def _alias(key: str, value: Any, databases: Mapping[str, Any]) -> str:
    if not isinstance(value, str) or value not in databases:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] is {value!r}, which is not in DATABASES; add that alias "
            "or name one of " + ", ".join(map(repr, databases)) + " (docs/settings.md)."
        )
    return value


def _bypass_alias(key: str, value: Any, databases: Mapping[str, Any]) -> str | None:
    if value is None:
        return BYPASS_ALIAS if BYPASS_ALIAS in databases else None
    if not isinstance(value, str) or value not in databases:
        # Its login role needs BYPASSRLS; a typo must not quietly turn cross-tenant work off.
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] is {value!r}, which is not in DATABASES; add that alias "
            "(its login role needs BYPASSRLS, see docs/rls.md, 'Database roles')."
        )
    return value


def former_settings() -> list[str]:
    """The retired flat settings that are still set, each with the key that replaced it."""
    return [
        f"{name} is no longer read: set {SETTING_NAME}[{FORMER_SETTINGS[name]!r}] instead."
        for name in FORMER_SETTINGS
        if hasattr(settings, name)
    ]


def load(user_settings: Any, databases: Mapping[str, Any] | None = None) -> SharedSettings:
    """Validate ``user_settings`` (the ``BEEP_SHARED`` value) over the defaults."""
    if databases is None:
        databases = settings.DATABASES
    if user_settings is None:
        user_settings = {}
    if not isinstance(user_settings, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING_NAME} must be a dict, got {type(user_settings).__name__}."
        )
    unknown = sorted(set(user_settings) - set(DEFAULTS), key=str)
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING_NAME} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **user_settings}
    return SharedSettings(
        rls_database=_alias("RLS_DATABASE", merged["RLS_DATABASE"], databases),
        rls_bypass_database=_bypass_alias(
            "RLS_BYPASS_DATABASE", merged["RLS_BYPASS_DATABASE"], databases
        ),
        session_lifetime=_duration("SESSION_LIFETIME", merged["SESSION_LIFETIME"]),
        session_token_storage=_choice(
            "SESSION_TOKEN_STORAGE", merged["SESSION_TOKEN_STORAGE"], SESSION_TOKEN_STORAGES
        ),
    )


_cached: SharedSettings | None = None


def shared_settings() -> SharedSettings:
    """The validated settings, cached until ``BEEP_SHARED``, ``DATABASES`` or a former flat
    setting changes (e.g. ``override_settings``)."""
    global _cached
    if _cached is None:
        former = former_settings()
        if former:
            raise ImproperlyConfigured(" ".join(former))
        _cached = load(getattr(settings, SETTING_NAME, None))
    return _cached


def reset_cache(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver (connected in ``BeepSharedConfig.ready``)."""
    global _cached
    if setting in (SETTING_NAME, "DATABASES", *FORMER_SETTINGS):
        _cached = None


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E030: ``BEEP_SHARED`` is invalid; E031: a retired flat setting is still set."""
    messages: list[checks.CheckMessage] = [
        checks.Error(message, id="beep_shared.E031") for message in former_settings()
    ]
    try:
        load(getattr(settings, SETTING_NAME, None))
    except ImproperlyConfigured as exc:
        messages.append(checks.Error(str(exc), id="beep_shared.E030"))
    return messages
