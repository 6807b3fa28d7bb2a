"""``migrate`` as the tables' owner: the ``"owner"`` alias (MIGRATION_DATABASE_URL) when the
settings have one, else ``"default"``; ``--database`` still chooses any alias."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands import migrate

OWNER_ALIAS = "owner"


class Command(migrate.Command):
    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        if OWNER_ALIAS in settings.DATABASES:
            parser.set_defaults(database=OWNER_ALIAS)
