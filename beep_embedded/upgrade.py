"""Move an embedded data folder made by an older PostgreSQL major version to the current one.

A dump and restore, because the old server's programs may be gone (``pg_upgrade`` needs both
sets): the old server is used as it runs (``pgserver`` left it running) or started with the
old programs, everything is dumped with the new ``pg_dumpall`` (it reads older servers), the
old folder is moved aside (never deleted) and a new one restored from the dump.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import CommandError

from beep_embedded import server as embedded_server
from beep_embedded.server import SUPERUSER, Running, data_major, running, server_major

# The one error a restore into a new cluster always reports: its bootstrap superuser exists.
EXPECTED_RESTORE_ERROR = f'role "{SUPERUSER}" already exists'


@dataclass(frozen=True)
class Upgraded:
    old_major: int
    moved_to: Path
    dump: Path


def old_bindirs(major: int) -> list[Path]:
    """Where an older PostgreSQL's programs usually are: pgserver's wheel, Debian, Homebrew."""
    found = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        found.append(Path(spec.origin).parent / "pginstall" / "bin")
    found += [
        Path(f"/usr/lib/postgresql/{major}/bin"),
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        Path(f"/usr/local/opt/postgresql@{major}/bin"),
    ]
    return [path for path in found if _major_of(path) == major]


def _major_of(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return int(out.split()[-1].split(".")[0])


def upgrade(
    pgdata: Path, old_bindir: Path | None = None, say: Callable[[str], None] = print
) -> Upgraded:
    old = data_major(pgdata)
    new = server_major()
    if old is None:
        raise CommandError(f"{pgdata} holds no PostgreSQL data folder; nothing to upgrade.")
    if old == new:
        raise CommandError(f"{pgdata} is already a PostgreSQL {new} folder; nothing to do.")
    if old > new or old < 0:
        raise CommandError(f"{pgdata} was made by PostgreSQL {old}, newer than {new}.")
    moved_to = pgdata.with_name(f"{pgdata.name}-pg{old}")
    dump = pgdata.with_name(f"{pgdata.name}-pg{old}.sql")
    if moved_to.exists():
        raise CommandError(f"{moved_to} exists (an earlier upgrade?); move it away first.")

    info = running(pgdata)
    if info is None:
        bindir = old_bindir or next(iter(old_bindirs(old)), None)
        if bindir is None or _major_of(bindir) != old:
            raise CommandError(
                f"{pgdata} needs the programs of PostgreSQL {old} to be read; install them "
                f"(Debian: apt-get install postgresql-{old}) and pass --old-bindir, "
                "or delete the folder to start empty."
            )
        say(f"Starting the PostgreSQL {old} server of {pgdata} with {bindir} ...")
        info = _start_old(pgdata, bindir)
    say(f"Dumping PostgreSQL {old} (pid {info.pid}) to {dump} ...")
    pg_dumpall = str(embedded_server.bin_dir() / "pg_dumpall")
    _run([pg_dumpall, "-h", info.host, "-p", str(info.port), "-U", SUPERUSER, "-f", str(dump)])
    embedded_server.stop_pid(info.pid)
    pgdata.rename(moved_to)
    say(f"Kept the old folder as {moved_to}; starting PostgreSQL {new} in {pgdata} ...")
    fresh = embedded_server.start(pgdata)
    psql = str(embedded_server.bin_dir() / "psql")
    where = ["-h", fresh.host, "-p", str(fresh.port), "-U", SUPERUSER, "-d", "postgres"]
    result = _run([psql, "-X", "-q", *where, "-f", str(dump)])
    errors = [
        line
        for line in result.stderr.splitlines()
        if "ERROR:" in line and EXPECTED_RESTORE_ERROR not in line
    ]
    if errors:
        raise CommandError(
            f"The restore into {pgdata} reported {len(errors)} error(s), first: {errors[0]} "
            f"(the dump {dump} and the old folder {moved_to} are kept)."
        )
    return Upgraded(old, moved_to, dump)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=3600)
    except subprocess.CalledProcessError as exc:
        reason = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise CommandError(
            f"{Path(args[0]).name} failed: {reason[0] if reason else exc.returncode}"
        ) from exc


def _start_old(pgdata: Path, bindir: Path) -> Running:
    socket_dir = Path(tempfile.mkdtemp(prefix="beep-pg-upgrade-"))
    socket_dir.chmod(0o777)  # the server may run as the folder's owner, not as root
    owner = embedded_server._folder_owner(pgdata)
    try:
        subprocess.run(
            [
                *(str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-t", "60"),
                *("-l", str(socket_dir / "log"), "-o", f'-h "" -k {socket_dir}', "start"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=90,
            user=owner,
        )
    except subprocess.CalledProcessError as exc:
        raise CommandError(
            f"The PostgreSQL server in {pgdata} did not start with {bindir}; "
            f"see {socket_dir / 'log'}."
        ) from exc
    info = running(pgdata)
    if info is None:
        raise CommandError(f"The PostgreSQL server in {pgdata} did not become ready.")
    return info
