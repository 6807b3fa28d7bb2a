"""Settings of the beep-iam project, read from the environment.

- ``DATABASE_URL``: a PostgreSQL server; without it, the embedded server (beep_embedded),
  started on the first connection. ``MIGRATION_DATABASE_URL``: the tables' owner, the
  ``"owner"`` alias that ``migrate`` uses by default.
- ``SECRET_KEY``: required unless ``DEBUG`` is on.
- ``DEBUG``: off unless set to a true value.
- ``ALLOWED_HOSTS``: comma separated; defaults to localhost only.
- Static files, HTTPS and cookie settings for ``check --deploy``: see the README's table.
- ``BYPASS_DATABASE_URL``: the same database through a login role with BYPASSRLS, for
  cross-tenant maintenance and superuser browsing in the admin (``DATABASES["bypass"]``;
  built automatically with the embedded server; unset means no bypass, see docs/rls.md,
  "Database roles").
- ``BEEP_BETTER_AUTH_ROLE``: the database role of a better-auth server sharing the database
  (default ``beep_auth``, the role the embedded server creates; empty: none), which migrations
  grant better-auth's tables and columns (``BEEP_IAM["BETTER_AUTH_ROLE"]``).
- ``OAUTH2_ISSUER``: the issuer of the OAuth endpoints (docs/oauth2.md), e.g.
  ``https://auth.example.com``; with ``DEBUG`` on ``http://127.0.0.1:8000`` unless set.
- ``BETTER_AUTH_SECRET``: the secret of a better-auth server sharing the database; set, it turns
  on co-tenancy (docs/better-auth.md): sessions stored as better-auth stores them, its session
  cookie accepted, one password for both. ``BETTER_AUTH_COOKIE_PREFIX``: its cookie prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

from config.env import database_from_url, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

# Unset without DEBUG: left empty, and the check config.E001 stops every command that runs
# checks (and Django itself anything that signs); the embedded_pg_* commands need no key.
SECRET_KEY = os.environ.get("SECRET_KEY", "") or (
    "insecure-development-key-do-not-use-in-production" if DEBUG else ""
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    # First: its createsuperuser and migrate come before django.contrib.auth's and Django's.
    "config",
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
    "beep_embedded",  # the embedded server's backend and its embedded_pg_* commands
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
# A sign-in at /accounts/login/ with no ?next= (the OAuth endpoints always give one) lands in
# the admin rather than on Django's default /accounts/profile/, which this project lacks.
LOGIN_REDIRECT_URL = "admin:index"

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
_migration_url = os.environ.get("MIGRATION_DATABASE_URL", "").strip()
DATABASES: dict[str, dict] = {}
if _database_url:
    DATABASES["default"] = database_from_url(_database_url)
    if _bypass_url:
        DATABASES["bypass"] = database_from_url(_bypass_url, name="BYPASS_DATABASE_URL")
    if _migration_url:
        # The tables' owner: `manage.py migrate` defaults to this alias (config's migrate).
        DATABASES["owner"] = database_from_url(_migration_url, name="MIGRATION_DATABASE_URL")
else:
    from beep_embedded.bootstrap import data_dir, databases

    # The embedded server, started by its database backend on the first connection.
    DATABASES.update(databases(data_dir(BASE_DIR)))
for _alias, _db in DATABASES.items():
    _db.setdefault("CONN_MAX_AGE", env_int("CONN_MAX_AGE", default=0))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
    if _alias != "default":
        # Tests: the same test database as "default", through this alias's own login.
        _db["TEST"] = {"MIRROR": "default"}
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

# Every key of both dicts: docs/settings.md.
BEEP_SHARED: dict[str, object] = {}
BEEP_IAM: dict[str, object] = {
    # The role migrations grant better-auth's tables to (the package's default is none).
    "BETTER_AUTH_ROLE": os.environ.get("BEEP_BETTER_AUTH_ROLE", "beep_auth").strip() or None,
}
# The OAuth endpoints' issuer (docs/oauth2.md); in development runserver's address.
if os.environ.get("OAUTH2_ISSUER"):
    BEEP_IAM["OAUTH2_ISSUER"] = os.environ["OAUTH2_ISSUER"]
elif DEBUG:
    BEEP_IAM["OAUTH2_ISSUER"] = "http://127.0.0.1:8000"

# ModelBackend with the user's validity rule (bans, soft-deletion): beep_shared.W020.
AUTHENTICATION_BACKENDS = ["beep_shared.backends.UserBackend"]

# Sharing the database with a better-auth server (docs/better-auth.md).
_better_auth_secret = os.environ.get("BETTER_AUTH_SECRET", "")
if _better_auth_secret:
    BEEP_SHARED["SESSION_TOKEN_STORAGE"] = "plain"  # what better-auth stores and looks up
    BEEP_IAM |= {
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
