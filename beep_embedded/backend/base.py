"""PostgreSQL backend that starts the embedded server on the first connection.

Settings name the data folder (``"PGDATA"``) instead of a host and port; importing settings
starts nothing, so commands that never connect (``help``, ``embedded_pg_stop``) leave the
server alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from django.db import OperationalError
from django.db.backends.postgresql import base, client

from beep_embedded import bootstrap, server

# False inside attach_only(): connect only to a server that already runs.
_may_start: ContextVar[bool] = ContextVar("beep_embedded_may_start", default=True)


@contextmanager
def attach_only() -> Any:
    """Connections made inside this block fail (OperationalError) instead of starting the
    server when it is not running."""
    token = _may_start.set(False)
    try:
        yield
    finally:
        _may_start.reset(token)


def locate(settings_dict: dict[str, Any]) -> None:
    """Fill ``HOST`` and ``PORT`` of ``settings_dict`` (in place: every copy Django makes
    later, the test database's included, inherits them) with the running server's, unless
    ``HOST`` was set to something else than what this function put there."""
    pgdata = Path(settings_dict["PGDATA"])
    if settings_dict.get("HOST") and settings_dict["HOST"] != settings_dict.get("_LOCATED"):
        return  # pointed elsewhere on purpose (a pooler in front of the server, say)
    if _may_start.get():
        host, port = bootstrap.start(pgdata)
    else:
        info = server.running(pgdata)
        if info is None:
            raise OperationalError(f"the embedded PostgreSQL server of {pgdata} is not running")
        host, port = info.host, str(info.port)
    settings_dict["HOST"], settings_dict["PORT"] = host, port
    settings_dict["_LOCATED"] = host


class DatabaseClient(client.DatabaseClient):
    def runshell(self, parameters: Iterable[str]) -> None:
        locate(self.connection.settings_dict)
        super().runshell(parameters)


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        locate(self.settings_dict)
        return super().get_connection_params()
