"""No tenant leaks through pgbouncer in transaction pooling mode.

The test starts Debian's ``pgbouncer`` on a loopback port in front of the test database
(the embedded server's unix socket), one server connection shared by several client
connections, and sends requests alternating tenants from several threads through
Django's WSGI handler, with persistent (CONN_MAX_AGE) client connections.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.urls import path

from beep_shared.models import Team
from beep_shared.rls import current_scope
from tests.factories import OrganizationFactory, TeamFactory
from tests.rls.test_rls_requests import session_cookie, wsgi_get

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
)

pytestmark = [
    pytest.mark.skipif(
        PGBOUNCER is None,
        reason="pgbouncer binary not found: install Debian's pgbouncer package "
        "(apt-get install pgbouncer; CI installs it) to run the pooling leak test",
    ),
    pytest.mark.urls(__name__),
    pytest.mark.django_db(transaction=True),
]


def team_names(request: HttpRequest) -> JsonResponse:
    names = sorted(Team.objects.values_list("name", flat=True))
    return JsonResponse({"tenant": current_scope().tenant_id, "teams": names})


urlpatterns = [path("teams/", team_names)]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, log: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"pgbouncer did not listen within {seconds:.0f} s: {log.read_text()}")


@pytest.fixture
def pgbouncer() -> Iterator[int]:
    """A transaction-pooling pgbouncer with ONE server connection; yields its port."""
    db = connection.settings_dict
    server_host = db["HOST"] or "127.0.0.1"
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="beep-pgbouncer-"))
    workdir.chmod(0o755)
    # Clients are trusted; towards the server pgbouncer logs in with the auth file's password
    # (DATABASE_URL's; the embedded server's unix socket needs none).
    password = db.get("PASSWORD") or ""
    (workdir / "users.txt").write_text(f'"{db["USER"]}" "{password}"\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={server_host} port={db["PORT"] or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "users.txt"}
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
"""
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (workdir / name).chmod(0o600 if password else 0o644)
    assert PGBOUNCER is not None
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # pgbouncer refuses to run as root; run it as the owner of the socket directory
        # (the embedded server's user), or as nobody over TCP.
        user = (
            pwd.getpwuid(os.stat(server_host).st_uid).pw_name
            if server_host.startswith("/")
            else "nobody"
        )
        command[1:1] = ["-u", user]
        if password:
            for name in ("users.txt", "pgbouncer.ini"):
                shutil.chown(workdir / name, user)
    # Every thread's default connection shares this settings dict: point it at pgbouncer
    # (persistent client connections, no server-side cursors as pgbouncer requires).
    pooled = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CONN_MAX_AGE": 600,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
    saved = {key: db.get(key) for key in pooled}
    log = workdir / "pgbouncer.log"
    with log.open("w") as output:  # a file, not a pipe: a full pipe would stall pgbouncer
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, log)
        connection.close()
        db.update(pooled)
        yield port
    finally:
        connection.close()
        for key, value in saved.items():
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _client(
    handler: WSGIHandler, plan: list[str | None], cookies: dict, expected: dict, failures: list[str]
) -> None:
    try:
        for tenant in plan:
            status, body = wsgi_get(handler, "/teams/", cookies[tenant])
            if not status.startswith("200") or body["teams"] != expected[tenant]:
                failures.append(f"tenant {tenant}: {status} {body}")
    except Exception as exc:  # reported by the main thread
        failures.append(repr(exc))
    finally:
        connections.close_all()


def test_tenants_alternating_over_shared_pooled_server_connections_never_leak(pgbouncer):
    orgs = [OrganizationFactory.create() for _ in range(3)]
    expected: dict[str | None, list[str]] = {None: []}
    for org in orgs:
        expected[org.pk] = sorted(TeamFactory.create(organization=org).name for _ in range(2))
    cookies: dict[str | None, str] = {org.pk: session_cookie(org) for org in orgs}
    cookies[None] = session_cookie()
    tenants = [*expected]

    handler = WSGIHandler()
    failures: list[str] = []
    threads = [
        threading.Thread(
            target=_client,
            args=(
                handler,
                list(itertools.islice(itertools.cycle(tenants[i:] + tenants[:i]), 25)),
                cookies,
                expected,
                failures,
            ),
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[:5]

    # Control: the pool really hands one client's server session to another, so a
    # session-level SET (raw SQL of another client, past Django) reaches this client's
    # session ...
    first, second = (
        connections.create_connection("default"),
        connections.create_connection("default"),
    )
    session_tenant = "SELECT current_setting('app.current_org_id', true)"
    try:
        first.ensure_connection()
        first.connection.execute(f"SET app.current_org_id = '{orgs[0].pk}'")
        second.ensure_connection()
        assert second.connection.execute(session_tenant).fetchone()[0] == orgs[0].pk
        # ... yet no statement through Django sees its rows: each one states its own tenant,
        # and resets the session as its (autocommit) transaction ends.
        with second.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM team")
            assert cursor.fetchone()[0] == 0
        assert second.connection.execute(session_tenant).fetchone()[0] in ("", None)
        # The same SET through a Django cursor never outlives its statement.
        with first.cursor() as cursor:
            cursor.execute(f"SET app.current_org_id = '{orgs[0].pk}'")
        assert second.connection.execute(session_tenant).fetchone()[0] in ("", None)
    finally:
        first.close()
        second.close()
