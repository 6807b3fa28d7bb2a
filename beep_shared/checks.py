"""System checks (registered in ``BeepSharedConfig.ready``). Database checks run for
``migrate`` and ``check --database default``."""

from __future__ import annotations

import os
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.utils import OperationalError
from django.utils.module_loading import import_string

from beep_shared.rls.context import bypass_database_or_none

# The environment variables the usual URL-style settings read each alias from; named in the
# hint only when set, since a host project may configure its databases any other way.
_SOURCES = {
    "default": "DATABASE_URL",
    "owner": "MIGRATION_DATABASE_URL",
    "bypass": "BYPASS_DATABASE_URL",
}


def _source(alias: str) -> str:
    variable = _SOURCES.get(alias)
    if variable and os.environ.get(variable):
        return f" ({variable} is set in the environment)"
    return ""


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
                    hint=f"Check DATABASES[{alias!r}]{_source(alias)} and that the server is "
                    "running.",
                    id="beep_shared.E001",
                )
            )
    return errors


TENANT_MIDDLEWARE = "beep_shared.rls.middleware.TenantMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
REPORTER_FILTER = "beep_shared.error_reports.AlwaysSafeExceptionReporterFilter"
SETUP = "README, 'Using the apps in another project'"


def check_host_project_settings(app_configs: Any, **kwargs: Any) -> list:
    """What a project needs besides INSTALLED_APPS for the admin and the services to work."""
    messages: list[checks.CheckMessage] = []
    if not apps.is_installed("pgtrigger"):
        # Without it the models' Meta.triggers is an unknown option: migrate stops at
        # beep_shared.0001 with a TypeError, after other apps' migrations went in.
        messages.append(
            checks.Error(
                "INSTALLED_APPS lacks 'pgtrigger' (django-pgtrigger): the tables' triggers "
                "cannot be installed and migrate fails.",
                hint=f"Add 'pgtrigger' to INSTALLED_APPS ({SETUP}).",
                id="beep_shared.E005",
            )
        )
    middleware = list(settings.MIDDLEWARE)
    if TENANT_MIDDLEWARE not in middleware:
        messages.append(
            checks.Error(
                f"MIDDLEWARE lacks {TENANT_MIDDLEWARE!r}: requests run in no organization, so "
                "the admin's 'Work here' does nothing and writes to tenant tables are refused "
                "by row level security.",
                hint=f"Add it after {AUTH_MIDDLEWARE!r} ({SETUP}).",
                id="beep_shared.E003",
            )
        )
    elif AUTH_MIDDLEWARE in middleware and middleware.index(TENANT_MIDDLEWARE) < middleware.index(
        AUTH_MIDDLEWARE
    ):
        messages.append(
            checks.Error(
                f"{TENANT_MIDDLEWARE!r} comes before {AUTH_MIDDLEWARE!r} in MIDDLEWARE: it "
                "needs the request's user to choose the organization.",
                hint=f"Move it after {AUTH_MIDDLEWARE!r} ({SETUP}).",
                id="beep_shared.E004",
            )
        )
    try:
        bypass = bypass_database_or_none()
    except ImproperlyConfigured:
        bypass = "reported"  # beep_shared.E030/E031
    if bypass is None:
        messages.append(
            checks.Warning(
                "DATABASES has no bypass alias (a login role with BYPASSRLS): superusers in "
                "the admin cannot browse across organizations and bypass_rls() fails.",
                hint="Add DATABASES['bypass'] and DATABASE_ROUTERS = "
                f"['beep_shared.rls.routing.BypassRouter'] ({SETUP}; roles: docs/rls.md, "
                "'Database roles').",
                id="beep_shared.W003",
            )
        )
    reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)
    if not issubclass(reporter, import_string(REPORTER_FILTER)):
        messages.append(
            checks.Warning(
                f"DEFAULT_EXCEPTION_REPORTER_FILTER is not {REPORTER_FILTER!r} (or a subclass): "
                "with DEBUG on, error pages show the secrets the services handle.",
                hint=f"Set DEFAULT_EXCEPTION_REPORTER_FILTER = {REPORTER_FILTER!r} ({SETUP}).",
                id="beep_shared.W004",
            )
        )
    return messages


PLAIN_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def check_login_honours_user_validity(app_configs: Any, **kwargs: Any) -> list:
    """Django's own ModelBackend lets banned and soft-deleted users log in (and stay in)."""
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
