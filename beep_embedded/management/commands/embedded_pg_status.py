"""``manage.py embedded_pg_status``: version, data folder, pid and socket of the embedded server."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from beep_embedded import server as embedded_server
from beep_embedded.management.commands._embedded import embedded_data_dir


class Command(BaseCommand):
    help = "Show the embedded PostgreSQL server's version, data folder, pid and socket."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        pgdata = embedded_data_dir()
        state = embedded_server.status(pgdata)
        lines = [f"data folder:     {pgdata}"]
        if state.data_major is None:
            lines.append("data version:    none yet (made on the first start)")
        else:
            lines.append(f"data version:    PostgreSQL {state.data_major}")
        if state.running is None:
            lines.append(
                f"server:          not running (PostgreSQL {state.server_major} installed)"
            )
        else:
            lines += [
                f"server:          running PostgreSQL {state.version}",
                f"pid:             {state.running.pid}",
                f"socket:          {state.running.socket_dir}/.s.PGSQL.{state.running.port}",
                f"max_connections: {state.max_connections}",
            ]
        if state.data_major is not None and state.data_major != state.server_major:
            lines.append(embedded_server.old_folder_message(pgdata, state.data_major))
        self.stdout.write("\n".join(lines))
