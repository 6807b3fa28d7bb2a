"""System checks: better-auth co-tenancy settings that would quietly not work together."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from beep_iam.conf import SETTING_NAME, load
from beep_shared.conf import shared_settings

MIDDLEWARE = "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware"
AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"
TENANT = "beep_shared.rls.middleware.TenantMiddleware"
BACKEND = "beep_iam.better_auth.backends.CredentialAccountBackend"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _session_token_storage() -> str | None:
    try:
        return shared_settings().session_token_storage
    except ImproperlyConfigured:
        return None  # beep_shared.E030/E031 report it


def _position(middleware: list[str], name: str) -> int | None:
    return middleware.index(name) if name in middleware else None


def check_co_tenancy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        conf = load(getattr(settings, SETTING_NAME, None))
    except ImproperlyConfigured:
        return []  # beep_iam.E001 reports it
    messages: list[checks.CheckMessage] = []
    middleware = list(settings.MIDDLEWARE)
    ours = _position(middleware, MIDDLEWARE)
    if ours is not None:
        if not conf.better_auth_secret:
            messages.append(
                checks.Error(
                    f"{MIDDLEWARE} needs {SETTING_NAME}['BETTER_AUTH_SECRET'].",
                    id="beep_iam.E020",
                )
            )
        auth, tenant = _position(middleware, AUTHENTICATION), _position(middleware, TENANT)
        if (auth is not None and ours < auth) or (tenant is not None and ours > tenant):
            messages.append(
                checks.Error(
                    f"{MIDDLEWARE} must come after {AUTHENTICATION} and before {TENANT}: "
                    "otherwise Django's user replaces it, or the request runs without the "
                    "session's organization.",
                    id="beep_iam.E021",
                )
            )
        if _session_token_storage() == "digest":
            messages.append(
                checks.Warning(
                    f"{MIDDLEWARE} with BEEP_SHARED['SESSION_TOKEN_STORAGE'] = 'digest' "
                    "finds no session better-auth created (it stores the token itself).",
                    hint="Set BEEP_SHARED['SESSION_TOKEN_STORAGE'] to 'plain'; see "
                    "docs/better-auth.md.",
                    id="beep_iam.W020",
                )
            )
    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", [MODEL_BACKEND]))
    if conf.better_auth_passwords and (BACKEND not in backends or MODEL_BACKEND in backends):
        messages.append(
            checks.Warning(
                f"{SETTING_NAME}['BETTER_AUTH_PASSWORDS'] is on but AUTHENTICATION_BACKENDS is "
                f"not [{BACKEND!r}]: a password changed through better-auth does not reach "
                "Django logins, and the old one keeps working there.",
                hint=f"Replace {MODEL_BACKEND} with {BACKEND}.",
                id="beep_iam.W021",
            )
        )
    return messages
