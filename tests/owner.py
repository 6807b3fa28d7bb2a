"""The tables' owner in tests: the ``owner`` alias, for tests that change the schema.

On the embedded server the application's role owns the tables and the alias is a second
connection of that role; with ``MIGRATION_DATABASE_URL`` it connects as that owner role.
pytest-django wraps it in a transaction of its own, rolled back after the test (it is a
separate connection: the test's own connection does not see what it changed);
:func:`owner_commit` is for a change the application's connection must see.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction

OWNER_ALIAS = "owner"


def owner_credentials() -> dict[str, Any] | None:
    """USER, PASSWORD, HOST, PORT of MIGRATION_DATABASE_URL, or None when it is unset."""
    url = os.environ.get("MIGRATION_DATABASE_URL", "").strip()
    if not url or not os.environ.get("DATABASE_URL", "").strip():
        return None
    from config.env import database_from_url

    parsed = database_from_url(url)
    return {key: parsed.get(key) for key in ("USER", "PASSWORD", "HOST", "PORT")}


@contextmanager
def owner_cursor() -> Iterator[Any]:
    """A cursor of the owner alias in a transaction rolled back at the end of the block."""
    with transaction.atomic(using=OWNER_ALIAS):
        with connections[OWNER_ALIAS].cursor() as cursor:
            yield cursor
        transaction.set_rollback(True, using=OWNER_ALIAS)


@contextmanager
def owner_commit() -> Iterator[Any]:
    """A psycopg connection as the owner in autocommit mode: every statement commits at once."""
    import psycopg

    db = connections.settings[OWNER_ALIAS]  # the same in every thread
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as conn:
        yield conn
