"""``manage.py embedded_pg_upgrade``: carry an older major version's data folder over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from beep_embedded.management.commands._embedded import embedded_data_dir
from beep_embedded.upgrade import upgrade


class Command(BaseCommand):
    help = (
        "Dump the embedded data folder made by an older PostgreSQL, keep it aside as "
        "<folder>-pg<N>, and restore the dump into a new folder for the current server."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--old-bindir",
            type=Path,
            help="bin folder of the old PostgreSQL (found automatically for pgserver, Debian "
            "and Homebrew installs); not needed while the old server still runs",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        done = upgrade(embedded_data_dir(), options["old_bindir"], say=self.stdout.write)
        self.stdout.write(
            f"Upgraded from PostgreSQL {done.old_major}. Once you have checked the data, "
            f"delete {done.moved_to} and {done.dump}."
        )
