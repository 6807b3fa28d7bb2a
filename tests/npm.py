"""``npm ci`` of the interop packages, once, whichever test worker asks first."""

from __future__ import annotations

import fcntl
import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any


def npm_ci(folder: Path) -> None:
    """``npm ci`` in ``folder`` unless its node_modules matches the lock file.

    Parallel test workers share the folder, and ``npm ci`` starts by deleting node_modules:
    a file lock makes the others wait for the first one's install and then find it done.
    """
    lock = folder / "package-lock.json"
    installed = folder / "node_modules" / ".package-lock.json"
    with (folder / ".npm-ci.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=600,
        )


def node_json(folder: Path, script: str, **command: Any) -> dict[str, Any]:
    """Run ``node <script> '<command as JSON>'`` in ``folder``; the one JSON object it
    prints. A failing script fails the test with its output."""
    done = subprocess.run(
        ["node", script, json.dumps(command)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class NodeSession:
    """``node <script> '<command as JSON>'`` running beside the test, for flows with a user
    in the middle: the script prints a JSON line when it needs the user (codes, a URL), may
    read a line the test sends (a callback URL), and prints its outcome as the last line."""

    def __init__(self, folder: Path, script: str, **command: Any) -> None:
        self.process = subprocess.Popen(
            ["node", script, json.dumps(command)],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.returncode: int | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout: float = 60) -> dict[str, Any]:
        """The script's next JSON line; fails the test with its stderr when it ended."""
        line = self.lines.get(timeout=timeout)
        if line is None:
            assert self.process.stderr is not None
            self.process.wait(timeout=10)
            raise AssertionError(
                f"node ended ({self.process.returncode}): {self.process.stderr.read()}"
            )
        result: dict[str, Any] = json.loads(line)
        return result

    def finish(self, timeout: float = 60) -> dict[str, Any]:
        """The script's last JSON line, once it has exited (``returncode`` then set)."""
        result = self.read(timeout)
        self.process.wait(timeout=10)
        self.returncode = self.process.returncode
        return result

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def __enter__(self) -> NodeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
