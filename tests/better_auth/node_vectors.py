"""Answers from better-auth's own functions (interop/better-auth/vectors.mjs), per line."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from typing import Any

from .node import INTEROP, install_packages

# Where each better-auth line is installed by the interop package's npm workspace.
LINES = {"1.7": INTEROP, "1.4": INTEROP / "line-1.4"}


@functools.cache
def _installed() -> None:
    install_packages()


def better_auth(line: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``requests`` through the better-auth ``line``; its version is checked too."""
    _installed()
    node = shutil.which("node")
    assert node, "node is needed for the better-auth interop tests"
    package = LINES[line]
    assert (package / "node_modules" / "better-auth").is_dir(), (
        f"better-auth {line} is not installed in {package}: run `npm ci` in {INTEROP}"
    )
    done = subprocess.run(
        [node, str(INTEROP / "vectors.mjs"), str(package)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"].startswith(line + "."), result["version"]
    return list(result["answers"])
