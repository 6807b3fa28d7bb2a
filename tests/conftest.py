"""Session setup for a server where the tables' owner and the application's role differ.

With ``MIGRATION_DATABASE_URL`` set (README, "Your own server"), the test database is created
and migrated as that owner role, the application's role (``DATABASE_URL``) gets DML on it as
the README's default privileges give it on the real database, and every test runs as the
application's role. The ``owner`` alias (config/test_settings.py) keeps the owner's
credentials for the few tests that change the schema.

With ``DATABASE_URL`` set, the tests marked ``embedded`` (they start embedded servers of their
own) are deselected: that server is not in use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.owner import OWNER_ALIAS, owner_credentials

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("DATABASE_URL", "").strip():
        return
    embedded = [item for item in items if item.get_closest_marker("embedded")]
    if embedded:
        config.hook.pytest_deselected(items=embedded)
        items[:] = [item for item in items if not item.get_closest_marker("embedded")]


def _swap(settings_dict: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    saved = {key: settings_dict.get(key) for key in CREDENTIALS}
    settings_dict.update(values)
    return saved


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> Iterator[None]:
    """Create and migrate the test database as the owner role, when there is one."""
    owner = owner_credentials()
    default = connections["default"]
    if owner is None:
        yield
        return
    default.close()
    runtime = _swap(default.settings_dict, owner)
    yield
    default.settings_dict.update(runtime)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    owner = owner_credentials()
    if owner is None:
        yield
        return
    default = connections["default"]
    runtime_role = os.environ["DATABASE_URL"]  # the role of the runtime credentials below
    with django_db_blocker.unblock():
        from config.env import database_from_url

        runtime = {key: database_from_url(runtime_role).get(key) for key in CREDENTIALS}
        with default.cursor() as cursor:  # still the owner here
            role = default.ops.quote_name(runtime["USER"])
            # TRUNCATE only because pytest-django empties the tables after transactional
            # tests with it (flush); the README's production grants stop at DML.
            cursor.execute(
                "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public "
                f"TO {role}"
            )
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        default.close()
    # The owner alias mirrors default's settings dict: give it a copy with the owner's login.
    connections[OWNER_ALIAS].close()
    connections[OWNER_ALIAS].settings_dict = {**default.settings_dict, **owner}
    default.settings_dict.update(runtime)
    yield
    connections[OWNER_ALIAS].close()
    default.close()
    default.settings_dict.update(owner)  # the owner drops the test database
