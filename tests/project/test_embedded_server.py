"""The embedded PostgreSQL default: bootstrap races, non-superuser role, repeated migrate,
the status and stop commands, max_connections.

Uses a server of its own in a temporary folder, stopped and deleted at the end.
"""

import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from beep_embedded import server as embedded_server

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]

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


LOGIN = """
import sys
import django
django.setup()
from django.test import Client
from beep_shared.models import User
email, password = sys.argv[1:]
user = User.objects.get(email=email)
client = Client()
print(client.login(email=email, password=password), user.is_superuser)
"""


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory):
    path = tmp_path_factory.mktemp("embedded") / "pgdata"
    # initdb and the first start happen here, once: what the tests race is our bootstrap
    # (roles, database), not initdb.
    embedded_server.start(path)
    yield path
    embedded_server.stop(path)
    shutil.rmtree(path, ignore_errors=True)


def run(args, pgdata, **env_overrides):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MIGRATION_DATABASE_URL")
    }
    env.update(
        {
            "BEEP_PGDATA": str(pgdata),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "embedded-test-key",
            **env_overrides,
        }
    )
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def manage(pgdata, *args, **env_overrides):
    return run([sys.executable, "manage.py", *args], pgdata, **env_overrides)


def test_the_server_is_a_current_postgresql_18_with_200_connections(pgdata):
    info = embedded_server.running(pgdata)
    assert info is not None
    with psycopg.connect(host=info.host, port=info.port, user="postgres", dbname="postgres") as c:
        row = c.execute(
            "SELECT current_setting('server_version_num')::int, "
            "current_setting('max_connections')::int"
        ).fetchone()
    assert row is not None
    version, connections = row
    assert version >= 180006  # 18.6 or a later 18.x
    assert connections >= embedded_server.MAX_CONNECTIONS


def test_processes_bootstrapping_together_share_one_server_and_role(pgdata):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run([sys.executable, "-c", PROBE], pgdata), range(4)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["beep_app", "False", "False", "beep"]


def test_migrate_twice_then_through_database_url_as_the_owner_role(pgdata):
    first = manage(pgdata, "migrate", "--noinput")
    assert first.returncode == 0, first.stderr
    assert "Applying beep_shared.0001_initial... OK" in first.stdout
    second = manage(pgdata, "migrate", "--noinput")
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply" in second.stdout

    info = embedded_server.running(pgdata)
    host = urllib.parse.quote(info.socket_dir, safe="")
    url = f"postgres://beep_app@{host}:{info.port}/beep"
    third = manage(pgdata, "migrate", "--noinput", DATABASE_URL=url)
    assert third.returncode == 0, third.stderr
    assert "No migrations to apply" in third.stdout


def test_status_names_version_folder_pid_and_socket_then_stop_and_restart(pgdata):
    status = manage(pgdata, "embedded_pg_status")
    assert status.returncode == 0, status.stderr
    info = embedded_server.running(pgdata)
    assert f"data folder:     {pgdata}" in status.stdout
    assert "server:          running PostgreSQL 18." in status.stdout
    assert f"pid:             {info.pid}" in status.stdout
    assert f"socket:          {info.socket_dir}/.s.PGSQL.{info.port}" in status.stdout

    stop = manage(pgdata, "embedded_pg_stop")
    assert stop.returncode == 0, stop.stderr
    assert "Stopped the embedded PostgreSQL server" in stop.stdout
    assert embedded_server.running(pgdata) is None
    # Neither command starts the server again.
    again = manage(pgdata, "embedded_pg_stop")
    assert "No embedded PostgreSQL server is running" in again.stdout
    stopped = manage(pgdata, "embedded_pg_status")
    assert "server:          not running (PostgreSQL 18 installed)" in stopped.stdout
    assert embedded_server.running(pgdata) is None

    # Any other command starts it again, with its data.
    probe = run([sys.executable, "-c", PROBE], pgdata)
    assert probe.returncode == 0, probe.stderr
    assert embedded_server.running(pgdata) is not None


def test_server_commands_refuse_to_run_when_database_url_is_set(pgdata):
    result = manage(pgdata, "embedded_pg_stop", DATABASE_URL="postgres://x@127.0.0.1:9/x")
    assert result.returncode != 0
    assert "is not the embedded PostgreSQL server (DATABASE_URL is set?)" in result.stderr
    assert embedded_server.running(pgdata) is not None


def test_commands_that_need_no_database_start_no_server_and_need_no_secret_key(pgdata):
    assert manage(pgdata, "embedded_pg_stop").returncode == 0
    assert embedded_server.running(pgdata) is None
    for args in (["help"], ["makemigrations", "--check", "--dry-run"]):
        result = manage(pgdata, *args)
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr, result.stderr
    # A new shell: no SECRET_KEY, no DEBUG.
    bare = {"SECRET_KEY": "", "DEBUG": "0"}
    status = manage(pgdata, "embedded_pg_status", **bare)
    assert status.returncode == 0, status.stderr
    assert "server:          not running" in status.stdout
    assert embedded_server.running(pgdata) is None
    # Commands that run checks name the missing key.
    check = manage(pgdata, "check", **bare)
    assert check.returncode != 0
    assert "SECRET_KEY is not set" in check.stderr
    assert embedded_server.running(pgdata) is None

    # The first connection starts it, through the backend.
    probe = run([sys.executable, "-c", PROBE], pgdata)
    assert probe.returncode == 0, probe.stderr
    assert embedded_server.running(pgdata) is not None
    stop = manage(pgdata, "embedded_pg_stop", **bare)
    assert stop.returncode == 0, stop.stderr
    assert embedded_server.running(pgdata) is None


def test_createsuperuser_without_a_terminal_leaves_a_usable_admin_login(pgdata):
    assert manage(pgdata, "migrate", "--noinput").returncode == 0
    first = manage(pgdata, "createsuperuser")  # stdin is not a terminal here
    assert first.returncode == 0, first.stderr
    match = re.search(
        r"superuser admin@example.com with the password (\S+) \(shown once\)", first.stdout
    )
    assert match, first.stdout
    login = run([sys.executable, "-c", LOGIN, "admin@example.com", match.group(1)], pgdata)
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["True", "True"]

    # Run again (the README's one-liner twice): the superuser is kept, nothing fails.
    again = manage(pgdata, "createsuperuser")
    assert again.returncode == 0, again.stderr
    assert "keeping the superuser admin@example.com" in again.stdout
