"""``npm ci`` of the interop packages, once, whichever test worker asks first."""

from __future__ import annotations

import fcntl
import json
import subprocess
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
