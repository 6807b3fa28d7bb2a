"""Fixtures that run stock better-auth (both lines) on the test database as ``beep_auth``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.db import connection

from beep_iam.better_auth.grants import auth_role

from .node import BetterAuth, install_packages

LINES = ["1.7", "1.4"]
SECRET = "interop-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def interop_packages() -> None:
    install_packages()


@pytest.fixture(scope="session", params=LINES, ids=lambda line: f"better-auth-{line}")
def better_auth(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: object,
    interop_packages: None,
) -> Iterator[BetterAuth]:
    env = server_env()
    require_login(env)
    server = BetterAuth(request.param, env)
    yield server
    server.close()


def server_env() -> dict[str, str]:
    """libpq variables for the test database as the better-auth role, and better-auth's."""
    db = connection.settings_dict
    if auth_role() is None:
        pytest.fail(
            "The interop tests log in as the better-auth role, and the settings name none: "
            "unset BEEP_BETTER_AUTH_ROLE (beep_auth) or set it to the role's name."
        )
    env = {
        "PGHOST": str(db["HOST"] or "localhost"),
        "PGPORT": str(db["PORT"] or 5432),
        "PGDATABASE": str(db["NAME"]),
        "PGUSER": str(auth_role()),
        "BETTER_AUTH_SECRET": SECRET,
        "BETTER_AUTH_URL": "http://localhost:3000",
    }
    # Own servers: the role's password (the embedded server trusts local connections).
    if os.environ.get("BEEP_BETTER_AUTH_PASSWORD"):
        env["PGPASSWORD"] = os.environ["BEEP_BETTER_AUTH_PASSWORD"]
    return env


def require_login(env: dict[str, str]) -> None:
    """Fail at once, naming the variable, when the better-auth role cannot log in (an own
    server without BEEP_BETTER_AUTH_PASSWORD), rather than with the server's 500s later."""
    import psycopg

    try:
        psycopg.connect(
            host=env["PGHOST"],
            port=env["PGPORT"],
            dbname=env["PGDATABASE"],
            user=env["PGUSER"],
            password=env.get("PGPASSWORD"),
            connect_timeout=10,
        ).close()
    except psycopg.OperationalError as exc:
        given = "is set" if env.get("PGPASSWORD") else "is not set"
        pytest.fail(
            f"The better-auth role {env['PGUSER']!r} cannot log in to {env['PGDATABASE']!r} "
            f"(BEEP_BETTER_AUTH_PASSWORD {given}): set BEEP_BETTER_AUTH_PASSWORD to its "
            f"password (README, 'Your own server', step 3). {str(exc).splitlines()[0]}",
            pytrace=False,
        )
