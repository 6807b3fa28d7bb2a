"""Settings of the beep-iam project, read from the environment.

- ``DATABASE_URL``: a PostgreSQL server; without it an embedded server is started.
  (``MIGRATION_DATABASE_URL``, the tables' owner, is read by manage.py for ``migrate``.)
- ``SECRET_KEY``: required unless ``DEBUG`` is on.
- ``DEBUG``: off unless set to a true value.
- ``ALLOWED_HOSTS``: comma separated; defaults to localhost only.
- Static files, HTTPS and cookie settings for ``check --deploy``: see the README's table.
- ``BYPASS_DATABASE_URL``: the same database through a login role with BYPASSRLS, for
  cross-tenant maintenance and superuser browsing in the admin (``DATABASES["bypass"]``;
  built automatically with the embedded server; unset means no bypass, see docs/rls.md,
  "Database roles").
- ``BETTER_AUTH_SECRET``: the secret of a better-auth server sharing the database; set, it turns
  on co-tenancy (docs/better-auth.md): sessions stored as better-auth stores them, its session
  cookie accepted, one password for both. ``BETTER_AUTH_COOKIE_PREFIX``: its cookie prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set; set it in the environment, or set DEBUG=1 for local "
            "development with an insecure built-in key."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "beep_shared",
    "beep_iam",
    "config",  # the embedded_pg_* management commands
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collectstatic's files (the admin's styles) when DEBUG is off.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication: sets the request's tenant (row level security) for its transaction.
    "beep_shared.rls.middleware.TenantMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

_database_url = os.environ.get("DATABASE_URL", "").strip()
_bypass_url = os.environ.get("BYPASS_DATABASE_URL", "").strip()
_bypass_db: dict | None = None
if _database_url:
    _default_db = database_from_url(_database_url)
    if _bypass_url:
        _bypass_db = database_from_url(_bypass_url, name="BYPASS_DATABASE_URL")
else:
    from config.embedded_postgres import BYPASS_ROLE, database_settings

    # manage.py sets BEEP_EMBEDDED_PG_NO_START for the embedded_pg_* commands.
    _default_db = database_settings(BASE_DIR, start=not env_bool("BEEP_EMBEDDED_PG_NO_START"))
    # Same server and database, the bypass role's own login (docs/rls.md, "Database roles").
    _bypass_db = {**_default_db, "USER": BYPASS_ROLE}
_default_db.setdefault("CONN_MAX_AGE", int(os.environ.get("CONN_MAX_AGE", "0")))
_default_db.setdefault("CONN_HEALTH_CHECKS", True)
DATABASES = {"default": _default_db}
if _bypass_db is not None:
    _bypass_db.setdefault("CONN_MAX_AGE", _default_db["CONN_MAX_AGE"])
    _bypass_db.setdefault("CONN_HEALTH_CHECKS", True)
    # Tests: the same test database as "default", through the bypass login.
    _bypass_db["TEST"] = {"MIRROR": "default"}
    DATABASES["bypass"] = _bypass_db
# Sends the ORM to DATABASES["bypass"] inside beep_shared.rls.bypass_rls().
DATABASE_ROUTERS = ["beep_shared.rls.routing.BypassRouter"]

AUTH_USER_MODEL = "beep_shared.User"

# Secrets marked with sensitive_variables / sensitive_post_parameters stay hidden on error
# pages and in error reports even with DEBUG on.
DEFAULT_EXCEPTION_REPORTER_FILTER = "beep_shared.error_reports.AlwaysSafeExceptionReporterFilter"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path | None = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cache forever) and compressed copies, made by collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ModelBackend with the user's validity rule (bans, soft-deletion): beep_shared.W020.
AUTHENTICATION_BACKENDS = ["beep_shared.backends.UserBackend"]

# Sharing the database with a better-auth server (docs/better-auth.md).
_better_auth_secret = os.environ.get("BETTER_AUTH_SECRET", "")
if _better_auth_secret:
    BEEP_IAM = {
        "SESSION_TOKEN_STORAGE": "plain",
        "BETTER_AUTH_SECRET": _better_auth_secret,
        "BETTER_AUTH_COOKIE_PREFIX": os.environ.get("BETTER_AUTH_COOKIE_PREFIX", "better-auth"),
        "BETTER_AUTH_PASSWORDS": True,
    }
    # After authentication, before the tenant: the session's organization is the tenant.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("beep_shared.rls.middleware.TenantMiddleware"),
        "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware",
    )
    AUTHENTICATION_BACKENDS = ["beep_iam.better_auth.backends.CredentialAccountBackend"]

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
