"""Embedded PostgreSQL for machines without a database server.

When ``DATABASE_URL`` is not set, settings call :func:`database_settings`, which starts (or
reuses, see :mod:`config.embedded_server`) a PostgreSQL 18 server whose data lives in a
git-ignored folder of the project, and returns Django ``DATABASES`` settings for a
*non-superuser* login role that owns the app's database. Row level security does not apply to
superusers, so the application must never connect as one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def database_settings(base_dir: Path, *, start: bool = True) -> dict[str, Any]:
    """Start or reuse the embedded server and return a ``DATABASES['default']`` dict.

    ``start=False`` (the ``embedded_pg_*`` commands) only describes the server: they
    inspect, stop or upgrade it, and must work on a folder the server would refuse.
    """
    from config import embedded_server

    pgdata = data_dir(base_dir)
    info = embedded_server.start(pgdata) if start else embedded_server.running(pgdata)
    host = info.host if info else str(pgdata)
    port = str(info.port if info else 5432)
    if start:
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
