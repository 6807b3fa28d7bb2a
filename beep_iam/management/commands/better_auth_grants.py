"""Print the SQL that creates the better-auth role and grants it better-auth's tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from beep_iam.better_auth import grants, mapping
from beep_iam.conf import ROLE_NAME_RULE, SETTING_NAME, is_role_name


class Command(BaseCommand):
    help = (
        "Print the SQL (for a superuser) that creates the better-auth database role and grants "
        "it DML on exactly the tables and columns of the generated mapping."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default=None, help="Role name (default: the setting).")
        parser.add_argument("--schema", default="public", help="Schema of the tables.")

    def handle(self, *args: Any, role: str | None, schema: str, **options: Any) -> None:
        # The names go into SQL a superuser runs: refused unless plain (no quote to escape).
        for flag, value in (("--role", role), ("--schema", schema)):
            if value is not None and not is_role_name(value):
                raise CommandError(f"{flag} must be a name ({ROLE_NAME_RULE}), got {value!r}.")
        configured = grants.auth_role()
        name = role or configured or grants.DEFAULT_ROLE
        if name != configured:
            # Later grant migrations reach only the configured role.
            self.stderr.write(
                f"-- Set {SETTING_NAME}['BETTER_AUTH_ROLE'] = {name!r} so that migrations "
                "keep this role's privileges up to date."
            )
        qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
        script = grants.setup_script(
            name, schema, mapping.table_names(), qn, grants.column_limits()
        )
        self.stdout.write(script)
