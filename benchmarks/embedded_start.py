"""Start times of the embedded PostgreSQL server, as settings see them.

    python benchmarks/embedded_start.py [--rounds 3]

In a temporary folder (deleted at the end): **cold** = first start of a new data folder
(initdb, start, the one restart that raises max_connections, role and database bootstrap);
**restart** = start of a stopped server with its data; **warm** = what every later command
pays (the server runs: read postmaster.pid, bootstrap check). Medians over the rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from beep_embedded import server as embedded_server
from beep_embedded.bootstrap import _bootstrap


def settings_start(pgdata: Path) -> float:
    began = time.perf_counter()
    info = embedded_server.start(pgdata)
    _bootstrap(info.host, str(info.port))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    cold, restart, warm = [], [], []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="beep-start-"))
        pgdata = root / "pgdata"
        try:
            cold.append(settings_start(pgdata))
            warm += [settings_start(pgdata) for _ in range(5)]
            embedded_server.stop(pgdata)
            restart.append(settings_start(pgdata))
        finally:
            embedded_server.stop(pgdata)
            shutil.rmtree(root, ignore_errors=True)
    version = embedded_server.server_major()
    print(f"embedded PostgreSQL {version}, {rounds} rounds (median):")
    print(f"  cold start (new folder) {statistics.median(cold) * 1000:8.0f} ms")
    print(f"  restart (stopped)       {statistics.median(restart) * 1000:8.0f} ms")
    print(f"  warm (already running)  {statistics.median(warm) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
