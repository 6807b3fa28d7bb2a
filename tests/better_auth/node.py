"""Drives the better-auth harness (interop/better-auth/harness.mjs) from the tests.

One Node process per better-auth line speaks JSON lines over stdin/stdout; ``request`` goes
through better-auth's HTTP handler, ``api`` through its server API (for server-only calls
such as ``addMember``). :class:`Browser` keeps cookies between requests like a user agent.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.npm import npm_ci

INTEROP = Path(__file__).resolve().parents[2] / "interop" / "better-auth"
START_TIMEOUT = 60
CALL_TIMEOUT = 30


class BetterAuthError(AssertionError):
    """better-auth answered an ``api`` call with an error (or the process died)."""

    def __init__(self, message: str, status: Any = None, body: Any = None) -> None:
        super().__init__(f"{message} (status {status}, body {body!r})")
        self.status = status
        self.body = body


def install_packages() -> None:
    npm_ci(INTEROP)


@dataclass
class Response:
    status: int
    location: str | None
    set_cookie: list[str]
    body: Any

    def query(self) -> dict[str, str]:
        """The query of the ``Location`` header, one value per name."""
        assert self.location, f"no redirect (status {self.status}, body {self.body!r})"
        return {k: v[0] for k, v in parse_qs(urlsplit(self.location).query).items()}


def inherited_environment() -> dict[str, str]:
    """This process's environment less the URLs of Django's own databases: the harness
    prefers ``DATABASE_URL`` to the libpq variables, and must reach the test database as the
    better-auth role, never the real one as the application's role."""
    django_urls = {"DATABASE_URL", "MIGRATION_DATABASE_URL", "BYPASS_DATABASE_URL"}
    return {key: value for key, value in os.environ.items() if key not in django_urls}


class BetterAuth:
    """A running better-auth server of one line ("1.7" or "1.4")."""

    def __init__(self, line: str, env: dict[str, str]) -> None:
        self.line = line
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._process = subprocess.Popen(
            ["node", "harness.mjs"],
            cwd=INTEROP,
            env={**inherited_environment(), **env, "BEEP_BETTER_AUTH_LINE": line},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 0
        ready = self._receive(START_TIMEOUT)
        if not ready.get("ready"):
            raise BetterAuthError(f"better-auth {line} did not start: {ready}")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BetterAuthError(f"better-auth {self.line} timed out{self._log()}") from None
        if line is None:
            raise BetterAuthError(f"better-auth {self.line} exited{self._log()}")
        return json.loads(line)

    def _log(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-4000:]
        return f"; stderr:\n{text}" if text else ""

    def call(self, op: str, **args: Any) -> Any:
        self._next_id += 1
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"id": self._next_id, "op": op, "args": args}) + "\n")
        reply = self._receive(CALL_TIMEOUT)
        assert reply.get("id") == self._next_id, reply
        if not reply["ok"]:
            raise BetterAuthError(reply["error"], reply.get("status"), reply.get("body"))
        return reply["result"]

    def request(self, method: str, path: str, **args: Any) -> Response:
        result = self.call("request", method=method, path=path, **args)
        return Response(result["status"], result["location"], result["setCookie"], result["body"])

    def api(self, name: str, **args: Any) -> Any:
        return self.call("api", name=name, **args)

    def browser(self) -> Browser:
        return Browser(self)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


@dataclass
class Browser:
    """A user agent: sends the cookies better-auth set on earlier responses."""

    server: BetterAuth
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, **args: Any) -> Response:
        headers = dict(args.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.server.request(method, path, headers=headers, **args)
        for header in response.set_cookie:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **args: Any) -> Response:
        return self.request("GET", path, **args)

    def post(self, path: str, **args: Any) -> Response:
        return self.request("POST", path, **args)

    @property
    def headers(self) -> dict[str, str]:
        """Headers for a server ``api`` call made as this browser's user."""
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
