"""``manage.py rls_status``: row level security of every TenantModel table, as found in the DB.

Exits with status 1 when any table drifts from its model (RLS off, FORCE off, policy
missing, different or joined by another permissive policy, wrong column nullability).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from beep_shared.rls import checks
from beep_shared.rls.status import inspect


def _flag(value: bool, exists: bool) -> str:
    return ("on" if value else "off") if exists else "-"


class Command(BaseCommand):
    help = (
        "List every TenantModel table with its RLS mode, the RLS/FORCE flags and the policies "
        "found in the database; exit non-zero when the database drifts from the models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias to inspect (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        if alias not in connections:
            raise CommandError(f"Unknown database alias {alias!r}; see settings.DATABASES.")
        statuses = inspect(alias)
        header = ("table", "model", "mode", "rls", "force", "policies", "status")
        rows = [
            (
                s.table,
                s.label,
                s.mode,
                _flag(s.rls, s.exists),
                _flag(s.force, s.exists),
                ", ".join(s.policies) or "-",
                "ok" if s.ok else "DRIFT: " + "; ".join(s.problems),
            )
            for s in statuses
        ]
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
            line = "  ".join([*cells, row[-1]])
            if row is header or row[-1] == "ok":
                self.stdout.write(line)
            else:
                self.stdout.write(self.style.ERROR(line))

        for message in checks.role_warnings(connections[alias]):
            self.stderr.write(self.style.WARNING(f"warning: {message.msg}"))

        drifting = [s for s in statuses if not s.ok]
        if drifting:
            raise CommandError(
                f"{len(drifting)} of {len(statuses)} TenantModel tables drift from their models "
                f"({', '.join(s.table for s in drifting)}). Run 'python manage.py migrate'; if "
                "that reports nothing to apply, the database was changed by hand: see "
                "docs/rls.md ('Drift')."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{len(statuses)} TenantModel tables match their models.")
        )
