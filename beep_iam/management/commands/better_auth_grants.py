"""Print the SQL that creates the better-auth role and grants it the mapping's tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from beep_iam.better_auth import grants, mapping


class Command(BaseCommand):
    help = (
        "Print the SQL (for a superuser) that creates the better-auth database role and grants "
        "it DML on exactly the tables of the generated mapping."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default=None, help="Role name (default: the setting).")
        parser.add_argument("--schema", default="public", help="Schema of the tables.")

    def handle(self, *args: Any, role: str | None, schema: str, **options: Any) -> None:
        name = role or grants.auth_role() or grants.DEFAULT_ROLE
        qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
        self.stdout.write(grants.setup_script(name, schema, mapping.table_names(), qn))
