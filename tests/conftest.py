"""Session setup for a server where the tables' owner and the application's role differ.

With ``MIGRATION_DATABASE_URL`` set (README, "Your own server"), the test database is created
and migrated as that owner role, the application's role (``DATABASE_URL``) gets DML on it as
the README's default privileges give it on the real database, and every test runs as the
application's role. The ``owner`` alias (config/test_settings.py) keeps the owner's
credentials for the few tests that change the schema.

With ``DATABASE_URL`` set, the tests marked ``embedded`` (they start embedded servers of their
own) are deselected: that server is not in use.

Database tests may use the bypass alias (``bypass_rls()``, the superuser admin). It is a
separate connection to the same test database (``TEST["MIRROR"]``): rows a test created in its
own transaction are invisible there until committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.operations import DatabaseOperations

from beep_shared.rls.sql import revoke_temporary_statements
from tests import guard
from tests.owner import OWNER_ALIAS, owner_commit, owner_credentials

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or "databases" in marker.kwargs:
            continue
        item.add_marker(
            pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__"),
            append=False,
        )
    if not os.environ.get("DATABASE_URL", "").strip():
        return
    embedded = [item for item in items if item.get_closest_marker("embedded")]
    if embedded:
        config.hook.pytest_deselected(items=embedded)
        items[:] = [item for item in items if not item.get_closest_marker("embedded")]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters (beep_iam.oauth2.ratelimit) live in the local-memory cache of the
    process; one test's requests must not count against the next one's."""
    cache.clear()


@pytest.fixture(autouse=True)
def _close_the_bypass_connection() -> Iterator[None]:
    """Its session would keep the test database from being dropped at the end."""
    yield
    for connection in connections.all(initialized_only=True):
        if connection.alias == "bypass":
            connection.close()


def runtime_grants(role: str) -> list[str]:
    """What the README's default privileges give the runtime role, here on the test database
    (default privileges belong to one database), and on tables that tests re-create."""
    dml, seq = "SELECT, INSERT, UPDATE, DELETE", "USAGE, SELECT"
    return [
        f"GRANT {dml} ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT {seq} ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {dml} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {seq} ON SEQUENCES TO {role}",
    ]


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
def _test_databases(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_use_migrations: bool,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """Every test database, as soon as any test or fixture asks for one (tests/guard.py).

    In place of pytest-django's ``django_db_setup``, which creates only the databases that the
    selected tests declare: the browser tests declare none (they share committed rows through
    their own fixture), so a run of them alone got no test database.
    """
    from django.test.utils import setup_databases, teardown_databases

    if not django_db_use_migrations:
        raise pytest.UsageError("--nomigrations: triggers and policies are made by migrations")
    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        created = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            keepdb=keepdb,
            aliases=set(connections),
            serialized_aliases=set(),
        )
    guard.TEST_DATABASES.update(
        str(connections[alias].settings_dict["NAME"]) for alias in connections
    )
    with pytest.MonkeyPatch.context() as patch:
        connect = BaseDatabaseWrapper.connect

        def guarded_connect(self: BaseDatabaseWrapper) -> None:
            guard.require_test_database_to_connect(self)
            connect(self)

        patch.setattr(BaseDatabaseWrapper, "connect", guarded_connect)
        flush = DatabaseOperations.execute_sql_flush

        def guarded_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
            guard.require_test_database(self.connection, "flush")
            return flush(self, sql_list)

        patch.setattr(DatabaseOperations, "execute_sql_flush", guarded_flush)
        yield
    if not keepdb:
        with django_db_blocker.unblock():
            try:
                teardown_databases(created, verbosity=request.config.option.verbose)
            except Exception as exc:
                # As pytest-django does: the next run drops a leftover test database itself.
                request.node.warn(pytest.PytestWarning(f"Test databases not dropped: {exc!r}"))


@pytest.fixture(scope="session")
def django_db_setup(_test_databases: None, django_db_blocker: Any) -> Iterator[None]:
    default = connections["default"]
    owner = owner_credentials()
    # The owner alias mirrors default: point it at the test database (with the owner's login
    # where there is one) in the dict that connections of other threads and contexts are
    # built from too; pytest-django only fixed this thread's, leaving the others on the
    # real database.
    shared = connections.settings[OWNER_ALIAS]
    shared.update({**default.settings_dict, **(owner or {})})
    connections[OWNER_ALIAS].close()
    connections[OWNER_ALIAS].settings_dict = shared
    if "bypass" in connections.settings:
        # Likewise the bypass alias (its own login, the test database), or superuser pages
        # served by the live server's thread would read the real database.
        bypass = connections.settings["bypass"]
        bypass["NAME"] = default.settings_dict["NAME"]
        connections["bypass"].close()
        connections["bypass"].settings_dict = bypass
    if owner is None:
        with django_db_blocker.unblock(), default.cursor() as cursor:
            # The web role owns the test database here, as the embedded bootstrap's does.
            revoke = revoke_temporary_statements(
                default.settings_dict["NAME"], (default.settings_dict["USER"],)
            )
            for sql in revoke:
                cursor.execute(sql)
        yield
        # Their sessions would keep the test database from being dropped.
        connections[OWNER_ALIAS].close()
        if "bypass" in connections.settings:
            connections["bypass"].close()
        return
    with django_db_blocker.unblock():
        from config.env import database_from_url

        url = database_from_url(os.environ["DATABASE_URL"])
        runtime = {key: url.get(key) for key in CREDENTIALS}
        with default.cursor() as cursor:  # still the owner here
            for sql in runtime_grants(default.ops.quote_name(runtime["USER"])):
                cursor.execute(sql)
            # As the README's role set-up does for the real database.
            for sql in revoke_temporary_statements(default.settings_dict["NAME"]):
                cursor.execute(sql)
        default.close()
    default.settings_dict.update(runtime)
    with pytest.MonkeyPatch.context() as patch:
        # Transactional tests end with a flush (TRUNCATE): the owner's job, not the runtime's.
        # Through a connection of its own, since such a test may only use the default alias.
        flush = DatabaseOperations.execute_sql_flush

        def flush_as_owner(self: DatabaseOperations, sql_list: list[str]) -> None:
            guard.require_test_database(self.connection, "flush")
            if self.connection.alias != "default":
                return flush(self, sql_list)
            with owner_commit() as conn:
                for sql in sql_list:
                    conn.execute(sql)
            return None

        patch.setattr(DatabaseOperations, "execute_sql_flush", flush_as_owner)
        yield
    connections[OWNER_ALIAS].close()
    default.close()
    default.settings_dict.update(owner)  # the owner drops the test database
