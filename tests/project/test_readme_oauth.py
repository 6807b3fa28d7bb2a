"""The README's "Run an OAuth server" curl walk, run as written (block ``oauth-curl-walk``) in a
checkout of its own: an embedded server in a temporary folder, runserver on a free port, a
client registered, a token issued, introspected, revoked and introspected again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from beep_embedded import server as embedded_server
from tests.readme import ROOT, block

pytestmark = pytest.mark.embedded


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_curl_walk_works_as_written(tmp_path: Path):
    pgdata = tmp_path / "pgdata"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "BYPASS_DATABASE_URL", "DEBUG")
        and not k.startswith(("PYTEST_", "DJANGO_SETTINGS", "OAUTH2_"))
    }
    port = free_port()
    env.update(BEEP_PGDATA=str(pgdata), PORT=str(port))
    # Its own process group: runserver goes with it whatever happens to the block.
    walk = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block("oauth-curl-walk")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = walk.communicate(timeout=300)
    finally:
        if walk.poll() is None:
            os.killpg(walk.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(walk.pid, signal.SIGTERM)
        embedded_server.stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)
    assert walk.returncode == 0, out[-3000:] + err[-3000:]
    metadata, before, revoked, after = (line for line in out.splitlines() if line.startswith("{"))
    assert json.loads(metadata)["issuer"] == f"http://127.0.0.1:{port}"
    introspected = json.loads(before)
    assert introspected["active"] is True and introspected["scope"] == "invoices:read"
    assert json.loads(revoked) == {}
    assert json.loads(after) == {"active": False}
