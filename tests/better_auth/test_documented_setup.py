"""docs/better-auth.md's setup, run as written: the npm install, the server module and the
serving script, in a new folder, against the test database as the better-auth role."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.core.management import call_command

from beep_iam.models import Account
from beep_shared.models import User

from .checks import loads
from .conftest import SECRET, server_env
from .node import INTEROP, inherited_environment

pytestmark = pytest.mark.django_db(transaction=True)

DOC = "docs/better-auth.md"
_spec = importlib.util.spec_from_file_location(
    "readme_block", Path(__file__).resolve().parents[2] / ".ci" / "readme_block.py"
)
assert _spec is not None and _spec.loader is not None
readme_block = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_block)


def documented(name: str) -> str:
    return readme_block.block(name, DOC)


def test_documented_install_pins_what_the_interop_tests_run():
    words = shlex.split(documented("better-auth-install"))
    assert words[:3] == ["npm", "install", "--save-exact"]
    pinned = dict(word.rsplit("@", 1) for word in words[3:])
    tested = json.loads((INTEROP / "package.json").read_text())["dependencies"]
    # The interop package also names the Drizzle adapter, which better-auth brings along.
    assert pinned == {k: v for k, v in tested.items() if k != "@better-auth/drizzle-adapter"}


def _database_url(env: dict[str, str]) -> str:
    user = quote(env["PGUSER"], safe="")
    password = f":{quote(env['PGPASSWORD'], safe='')}" if env.get("PGPASSWORD") else ""
    database = quote(env["PGDATABASE"], safe="")
    if env["PGHOST"].startswith("/"):  # a socket folder, as on the embedded server
        query = urlencode({"host": env["PGHOST"], "port": env["PGPORT"]})
        return f"postgres://{user}{password}@localhost/{database}?{query}"
    return f"postgres://{user}{password}@{env['PGHOST']}:{env['PGPORT']}/{database}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post(url: str, body: dict[str, str], origin: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "origin": origin},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")}


def test_documented_server_signs_up_a_user_django_sees(tmp_path, interop_packages):
    server_dir = tmp_path / "auth-server"
    (server_dir / "src").mkdir(parents=True)
    npm_env = {
        **inherited_environment(),
        # From npm's cache where it can (the interop packages are the same versions).
        "npm_config_prefer_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_loglevel": "error",
    }
    install = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", documented("better-auth-install")],
        cwd=server_dir,
        env=npm_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    call_command("generate_better_auth", "--output", str(server_dir / "src" / "beep"))
    (server_dir / "src" / "auth.mjs").write_text(documented("better-auth-server"))
    (server_dir / "src" / "serve.mjs").write_text(documented("better-auth-serve"))

    port = _free_port()
    # No BETTER_AUTH_URL: the module's own default public URL (it failed without one), here
    # in front of a server on another port, as behind a proxy.
    env = {
        **{k: v for k, v in inherited_environment().items() if k != "BETTER_AUTH_URL"},
        "AUTH_DATABASE_URL": _database_url(server_env()),
        "BETTER_AUTH_SECRET": SECRET,
        "PORT": str(port),
    }
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        ["node", "src/serve.mjs"], cwd=server_dir, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"the server exited: {log.seek(0) or log.read()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not listen within 60 s"
                time.sleep(0.2)
        status, body = _post(
            f"http://127.0.0.1:{port}/api/auth/sign-up/email",
            {"email": "docs@example.com", "password": "correct horse battery", "name": "Doc"},
            origin="http://localhost:3000",
        )
        assert status == 200, (body, log.seek(0) or log.read())
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    user_id = body["user"]["id"]  # type: ignore[index]
    user = loads(User, str(user_id))
    assert user.email == "docs@example.com" and user.name == "Doc"
    assert Account.objects.get(user=user).provider_id == "credential"
    assert os.path.isfile(server_dir / "package-lock.json")
