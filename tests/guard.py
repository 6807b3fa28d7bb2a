"""The suite works on its own test databases only.

pytest-django creates test databases for the tests that declare a database; a run of tests
that share committed data through fixtures of their own (the browser tests) declared none, so
none was made and their closing ``flush`` emptied the developer's database. Two rules stop any
repeat, whatever is selected: every test database is created as soon as anything asks for
one (``tests/conftest.py``), and once they exist no Django connection may open, and no flush
may run, on a database that is not one of them.
"""

from __future__ import annotations

from typing import Any

TEST_DATABASES: set[str] = set()


class NotATestDatabase(RuntimeError):
    pass


def require_test_database(connection: Any, action: str) -> None:
    name = connection.settings_dict.get("NAME")
    if name not in TEST_DATABASES:
        raise NotATestDatabase(
            f"Refusing to {action} database {name!r} (alias {connection.alias!r}): it is not "
            f"one of this test run's databases ({', '.join(sorted(TEST_DATABASES)) or 'none'})."
        )


def require_test_database_to_connect(connection: Any) -> None:
    # Django's connections to the server itself ("postgres", NAME None) create and drop the
    # test databases; they touch no table.
    if connection.settings_dict.get("NAME") is not None:
        require_test_database(connection, "connect to")
