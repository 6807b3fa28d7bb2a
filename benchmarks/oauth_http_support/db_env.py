"""The scratch database's connection, handed from the benchmark to its servers by environment
variables (a server process cannot ask the embedded server's backend where it runs)."""

from __future__ import annotations

import os
from typing import Any


def database(prefix: str = "BENCH_DB") -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ[f"{prefix}_NAME"],
        "USER": os.environ["BENCH_DB_USER"],
        "PASSWORD": os.environ.get("BENCH_DB_PASSWORD", ""),
        "HOST": os.environ["BENCH_DB_HOST"],
        "PORT": os.environ.get("BENCH_DB_PORT", ""),
        # Persistent connections, as a production deployment runs them.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
    }
