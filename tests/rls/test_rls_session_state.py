"""Nothing a request sets for the database session reaches a later request.

Raw (or injected) SQL in one request runs a session-level ``SET app.current_org_id`` or
``SELECT set_config(..., false)`` (also behind a comment, as a second statement, or next to
a ``set_config(..., true)``), or tries ``SET ROLE beep_bypass``, through a Django cursor or
the raw psycopg connection. Later requests on the same server session, with another tenant
or none, must start on a clean session and see exactly their own rows: with a persistent
connection (``CONN_MAX_AGE``), Django's connection pool (``OPTIONS["pool"]``) and pgbouncer
in transaction mode.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import ProgrammingError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path

from beep_shared.models import Team
from beep_shared.rls import current_scope
from tests.factories import OrganizationFactory, TeamFactory
from tests.rls.test_rls_pgbouncer import PGBOUNCER
from tests.rls.test_rls_pgbouncer import pgbouncer as pgbouncer
from tests.rls.test_rls_requests import session_cookie
from tests.rls.test_rls_requests import wsgi_get as _wsgi_get

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]

INJECTED: list[str] = []
INJECT_VIA: list[str] = ["django"]

SESSION_SQL = "SELECT current_user, current_setting('app.current_org_id', true)"


def teams(request: HttpRequest) -> JsonResponse:
    # What the session carries as the request starts (raw psycopg skips every wrapper).
    connection.ensure_connection()
    at_start = list(connection.connection.execute(SESSION_SQL).fetchone())
    with connection.cursor() as cursor:
        for statement in INJECTED:
            try:
                with transaction.atomic():
                    if INJECT_VIA[0] == "psycopg":
                        connection.connection.execute(statement)
                    else:
                        cursor.execute(statement)
            except (ProgrammingError, psycopg.ProgrammingError):
                pass  # e.g. SET ROLE beep_bypass: permission denied
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    names = sorted(Team.objects.values_list("name", flat=True))
    return JsonResponse(
        {
            "tenant": current_scope().tenant_id,
            "teams": names,
            "pid": pid,
            "at_start": at_start,
        }
    )


urlpatterns = [path("teams/", teams)]


def wsgi_get(handler: WSGIHandler, path_: str, cookie: str | None) -> tuple[str, dict]:
    """A request as a WSGI server makes it, closing the response (``request_finished``)."""
    closing: list[Any] = []

    def run(environ: dict, start_response: Any) -> Any:
        result = handler(environ, start_response)
        closing.append(result)
        return result

    try:
        return _wsgi_get(run, path_, cookie)
    finally:
        for result in closing:
            result.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def persistent():
    db = connection.settings_dict
    saved = db["CONN_MAX_AGE"]
    connection.close()
    db["CONN_MAX_AGE"] = 600
    yield
    connection.close()
    db["CONN_MAX_AGE"] = saved


@pytest.fixture
def pooled():
    """Django's pool with one connection, so every request gets the same server session."""
    db = connection.settings_dict
    saved = db["CONN_MAX_AGE"], dict(db["OPTIONS"])
    connection.close()
    db["CONN_MAX_AGE"] = 0
    db["OPTIONS"] = {**db["OPTIONS"], "pool": {"min_size": 1, "max_size": 1}}
    yield
    connection.close()
    connection.close_pool()
    db["CONN_MAX_AGE"], db["OPTIONS"] = saved


SETUPS = ["persistent", "pooled"] + (["pgbouncer"] if PGBOUNCER else [])

ATTACKS = {
    "session SET": ["SET app.current_org_id = '{org}'"],
    "set_config": ["SELECT set_config('app.current_org_id', '{org}', false)"],
    "SET ROLE bypass": ["SET ROLE beep_bypass"],
    "SET ROLE and tenant": ["SET SESSION app.current_org_id = '{org}'", "SET ROLE beep_bypass"],
    # Disguises that a statement's first word does not show.
    "comment": ["/* nightly */ SET app.current_org_id = '{org}'"],
    "second statement": ["SELECT 1; SET app.current_org_id = '{org}'"],
    "set_config false next to true": [
        "SELECT set_config('app.current_org_id', '{org}', false), "
        "set_config('application_name', 'x', true)"
    ],
}
CASES = [(attack, "django") for attack in ATTACKS] + [
    ("session SET", "psycopg"),
    ("set_config false next to true", "psycopg"),
]


@pytest.mark.parametrize("setup", SETUPS)
@pytest.mark.parametrize(("attack", "via"), CASES)
def test_session_state_set_by_one_request_never_reaches_the_next(request, setup, attack, via):
    request.getfixturevalue(setup)
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    expected: dict[Any, list[str]] = {None: []}
    for org in (a, b):
        expected[org.pk] = sorted(TeamFactory.create(organization=org).name for _ in range(2))
    cookies = {a.pk: session_cookie(a), b.pk: session_cookie(b), None: session_cookie()}
    handler = WSGIHandler()
    login = connection.settings_dict["USER"]

    INJECTED[:] = [statement.format(org=a.pk) for statement in ATTACKS[attack]]
    INJECT_VIA[:] = [via]
    try:
        status, body = wsgi_get(handler, "/teams/", cookies[a.pk])
    finally:
        INJECTED.clear()
        INJECT_VIA[:] = ["django"]
    assert status.startswith("200") and body["teams"] == expected[a.pk]
    pid = body["pid"]

    for tenant in (None, b.pk, None, a.pk, None):
        status, body = wsgi_get(handler, "/teams/", cookies[tenant])
        assert status.startswith("200")
        # Empty, or this request's own tenant: the middleware's membership check is the first
        # statement of the request's transaction and states it (never another request's).
        assert body["at_start"][0] == login and body["at_start"][1] in ("", None, tenant)
        assert (body["tenant"], body["teams"]) == (tenant, expected[tenant])
        assert body["pid"] == pid  # the same server session all along

    # Nothing of it is left in the session itself either (raw psycopg sees the truth).
    connection.ensure_connection()
    row = connection.connection.execute(
        "SELECT current_user, current_setting('app.current_org_id', true)"
    ).fetchone()
    assert row[0] == login and row[1] in ("", None)


def test_a_pooled_connection_is_reset_as_it_goes_back(pooled):
    """Raw psycopg in autocommit mode, the one thing no commit of Django's sees: the pool's
    reset undoes it before the connection is handed out again."""
    org = OrganizationFactory.create()
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    connection.connection.execute(f"SET app.current_org_id = '{org.pk}'")
    connection.close()  # back to the pool (one connection)
    connection.ensure_connection()
    assert connection.connection.info.backend_pid == pid
    row = connection.connection.execute(SESSION_SQL).fetchone()
    assert list(row) == [connection.settings_dict["USER"], ""]
