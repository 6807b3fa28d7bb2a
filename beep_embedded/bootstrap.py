"""Roles and database of the embedded PostgreSQL server, made on its first start.

Row level security does not apply to superusers, so the application connects as the
*non-superuser* role ``beep_app`` that owns the database ``beep``; the server's superuser
``postgres`` is used only here, to make the roles and the database.
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
ENGINE = "beep_embedded.backend"
# Serialises the one-time role/database bootstrap between processes starting together.
_BOOTSTRAP_LOCK_KEY = 0x6265_6570  # "beep"
# Postmasters (pgdata, pid) this process has bootstrapped: once per server start is enough.
_bootstrapped: set[tuple[str, int]] = set()


def data_dir(base_dir: Path) -> Path:
    return Path(os.environ.get("BEEP_PGDATA", str(base_dir / ".pgdata"))).resolve()


def databases(pgdata: Path) -> dict[str, dict[str, Any]]:
    """``DATABASES`` entries for the embedded server on ``pgdata``; nothing starts here.

    The backend (:mod:`beep_embedded.backend`) starts the server on the first connection and
    fills in ``HOST`` and ``PORT``. ``"bypass"`` is the same database through the bypass
    role's own login (docs/rls.md, "Database roles").
    """
    default = {
        "ENGINE": ENGINE,
        "PGDATA": str(pgdata),
        "NAME": APP_DATABASE,
        "USER": APP_ROLE,
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
    }
    return {"default": default, "bypass": {**default, "USER": BYPASS_ROLE}}


def start(pgdata: Path) -> tuple[str, str]:
    """Start (or attach to) the server on ``pgdata``, make the roles and the database the
    first time this process meets that server, and return its host (socket folder) and port."""
    from beep_embedded import server

    info = server.start(pgdata)
    host, port = info.host, str(info.port)
    if (str(pgdata), info.pid) not in _bootstrapped:
        _bootstrap(host, port)
        _bootstrapped.add((str(pgdata), info.pid))
    return host, port


def _bootstrap(host: str, port: str) -> None:
    """Create the application role, the bypass role and the database; repair the roles."""
    import psycopg

    from beep_shared.rls.sql import revoke_temporary_statements

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
            # No temporary tables for the web role (docs/rls.md, "Threat model"); also
            # repairs databases made before. As the owner it could grant itself the
            # privilege back (it could also switch row level security off: this server is
            # the single-role set-up), so the check's own SQL names its tables' schema too.
            for statement in revoke_temporary_statements(APP_DATABASE, (APP_ROLE,)):
                conn.execute(statement)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_BOOTSTRAP_LOCK_KEY])
