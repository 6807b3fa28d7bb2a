"""``manage.py embedded_pg_stop``: stop the embedded server (the next command starts it again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from beep_embedded import server as embedded_server
from beep_embedded.management.commands._embedded import embedded_data_dir


class Command(BaseCommand):
    help = "Stop the embedded PostgreSQL server; any later command starts it again."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        pgdata = embedded_data_dir()
        if embedded_server.stop(pgdata):
            self.stdout.write(f"Stopped the embedded PostgreSQL server of {pgdata}.")
        else:
            self.stdout.write(f"No embedded PostgreSQL server is running on {pgdata}.")
