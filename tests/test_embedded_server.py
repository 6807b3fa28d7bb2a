"""The embedded PostgreSQL default: bootstrap races, non-superuser role, repeated migrate.

Uses a server of its own in a temporary folder, stopped and deleted at the end.
"""

import os
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT current_user, rolsuper, rolbypassrls, current_database() "
        "FROM pg_roles WHERE rolname = current_user"
    )
    print(*cursor.fetchone())
"""


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory):
    import pgserver

    path = tmp_path_factory.mktemp("embedded") / "pgdata"
    # initdb and the first start happen here, once: pgserver gives pg_ctl only 10 s, which a
    # loaded machine can exceed. What the tests race is our bootstrap (roles, database).
    pgserver.get_server(path, cleanup_mode=None)
    yield path
    if (path / "PG_VERSION").exists():
        server = pgserver.get_server(path, cleanup_mode="delete")
        # get_server() returns this process's cached handle, whose mode a test may have set.
        server.cleanup_mode = "delete"
        server.cleanup()


def run(args, pgdata, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        BEEP_PGDATA=str(pgdata),
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="embedded-test-key",
        **env_overrides,
    )
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_processes_bootstrapping_together_share_one_server_and_role(pgdata):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run([sys.executable, "-c", PROBE], pgdata), range(4)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["beep_app", "False", "False", "beep"]


def test_migrate_twice_then_through_database_url_as_the_owner_role(pgdata):
    first = run([sys.executable, "manage.py", "migrate", "--noinput"], pgdata)
    assert first.returncode == 0, first.stderr
    assert "Applying beep_shared.0001_initial... OK" in first.stdout
    second = run([sys.executable, "manage.py", "migrate", "--noinput"], pgdata)
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply" in second.stdout

    import pgserver

    info = pgserver.get_server(pgdata, cleanup_mode=None).get_postmaster_info()
    host = urllib.parse.quote(str(info.socket_dir), safe="")
    url = f"postgres://beep_app@{host}:{info.port or 5432}/beep"
    third = run([sys.executable, "manage.py", "migrate", "--noinput"], pgdata, DATABASE_URL=url)
    assert third.returncode == 0, third.stderr
    assert "No migrations to apply" in third.stdout
