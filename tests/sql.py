"""Raw SQL on the test connection, for proving what the database itself enforces."""

from django.db import connection


def raw(sql, params=()):
    """Run ``sql``; return its rows, or ``None`` for a statement without a result."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None
