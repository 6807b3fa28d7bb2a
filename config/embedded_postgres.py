"""Embedded PostgreSQL for machines without a database server.

When ``DATABASE_URL`` is not set, settings call :func:`database_settings`, which starts (or
reuses) a ``pgserver`` instance whose data lives in a git-ignored folder of the project, and
returns Django ``DATABASES`` settings for a *non-superuser* login role that owns the app's
database. Row level security does not apply to superusers, so the application must never
connect as one.

The server is left running when the process exits (``cleanup_mode=None``): ``runserver``'s
autoreloader, several shells and pytest-django's workers all share it, and the next start
only checks that it is still up.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

APP_ROLE = "beep_app"
APP_DATABASE = "beep"
# Role with BYPASSRLS for explicit cross-tenant work, with its own login (the "bypass"
# database alias); the application's role is not a member of it (docs/rls.md).
BYPASS_ROLE = "beep_bypass"
# The better-auth server's role (docs/better-auth.md): BYPASSRLS because better-auth works
# across organizations and sets no tenant; a member of no role and no role is a member of it.
AUTH_ROLE = "beep_auth"
SUPERUSER = "postgres"
# Serialises the one-time role/database bootstrap between processes starting together.
_BOOTSTRAP_LOCK_KEY = 0x6265_6570  # "beep"


def data_dir(base_dir: Path) -> Path:
    return Path(os.environ.get("BEEP_PGDATA", str(base_dir / ".pgdata"))).resolve()


def database_settings(base_dir: Path) -> dict[str, Any]:
    """Start or reuse the embedded server and return a ``DATABASES['default']`` dict."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on servers; pgserver copes without it.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a hard dependency
        raise ImproperlyConfigured(
            "DATABASE_URL is not set and the 'pgserver' package is not installed; "
            "install beep-iam with its dependencies or set DATABASE_URL."
        ) from exc

    pgdata = data_dir(base_dir)
    if not pgdata.parent.is_dir():
        raise ImproperlyConfigured(
            f"Embedded PostgreSQL data folder {pgdata} cannot be created: "
            f"{pgdata.parent} does not exist (set BEEP_PGDATA to another folder)."
        )
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"The embedded PostgreSQL server in {pgdata} did not start ({exc}); "
            f"see {pgdata / 'log'} or set DATABASE_URL to use another server."
        ) from exc

    info = server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir else (info.hostname or "127.0.0.1")
    port = str(info.port or 5432)
    _bootstrap(host, port)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": APP_DATABASE,
        "USER": APP_ROLE,
        "PASSWORD": "",
        "HOST": host,
        "PORT": port,
    }


def _bootstrap(host: str, port: str) -> None:
    """Create the application role, the bypass role and the database; repair the roles."""
    import psycopg

    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_BOOTSTRAP_LOCK_KEY])
        try:
            roles = {
                row[0]
                for row in conn.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                    [[APP_ROLE, BYPASS_ROLE]],
                )
            }
            if APP_ROLE not in roles:
                # CREATEDB lets pytest-django create its test database as this same role.
                conn.execute(
                    f'CREATE ROLE "{APP_ROLE}" LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS NOCREATEROLE'
                )
            if BYPASS_ROLE not in roles:
                conn.execute(f'CREATE ROLE "{BYPASS_ROLE}" LOGIN BYPASSRLS NOSUPERUSER')
            # Its own login, used by DATABASES["bypass"] only; the web role must never be
            # able to SET ROLE to it. Repairs clusters created with the older design
            # (NOLOGIN, granted to the application's role).
            conn.execute(f'ALTER ROLE "{BYPASS_ROLE}" LOGIN BYPASSRLS NOSUPERUSER')
            for member, group in conn.execute(
                "SELECT u.rolname, r.rolname FROM pg_auth_members m "
                "JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                "WHERE (r.rolname = %s AND u.rolname = %s) OR (r.rolname = %s AND u.rolname = %s)",
                [BYPASS_ROLE, APP_ROLE, APP_ROLE, BYPASS_ROLE],
            ).fetchall():
                conn.execute(f'REVOKE "{group}" FROM "{member}"')
            auth_role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [AUTH_ROLE])
            if not auth_role.fetchone():
                conn.execute(
                    f'CREATE ROLE "{AUTH_ROLE}" LOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE'
                )
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{APP_DATABASE}" OWNER "{APP_ROLE}"')
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_BOOTSTRAP_LOCK_KEY])
