from __future__ import annotations

from typing import Any

import pytest
from django.db import connection


@pytest.fixture
def persistent_connection() -> Any:
    """CONN_MAX_AGE on the default connection, as a production server runs it: requests
    share one server session (and what a request may leave on it)."""
    saved = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 600
    yield connection
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = saved
