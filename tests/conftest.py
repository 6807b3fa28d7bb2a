"""Suite-wide test setup."""

import pytest
from django.db import connections


def pytest_collection_modifyitems(items):
    """Database tests may use the bypass alias (``bypass_rls()``, the superuser admin).

    It is a separate connection to the same test database (``TEST["MIRROR"]``): rows a test
    created in its own transaction are invisible there until committed.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or "databases" in marker.kwargs:
            continue
        item.add_marker(
            pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__"),
            append=False,
        )


@pytest.fixture(autouse=True)
def _close_the_bypass_connection():
    """Its session would keep the test database from being dropped at the end."""
    yield
    for connection in connections.all(initialized_only=True):
        if connection.alias == "bypass":
            connection.close()
