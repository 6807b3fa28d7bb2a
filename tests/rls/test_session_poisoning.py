"""Injected SQL must not poison the server session for later requests (issue 16).

A persistent or pooled connection serves many requests on one server session. SQL injected
into one of them runs as the web role; what it leaves on the session (a temporary table
that shadows a table of the same name, a session-level ``search_path``, a prepared statement
under the membership check's name) must not decide a later request's organization. Each
test injects through a Django cursor, as the web role (no superuser, no ``BYPASSRLS``), and
then asks as a user who may not work in the organization.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import ProgrammingError, connection, transaction
from django.urls import path

from beep_shared.rls import access, tenant_context
from beep_shared.rls.checks import check_row_level_security
from tests.factories import MemberFactory, OrganizationFactory, TeamFactory, UserFactory
from tests.owner import owner_commit
from tests.rls.test_rls_check_on_user_load import login_cookie, verified_cookie
from tests.rls.test_rls_requests import team_names, wsgi_get

urlpatterns = [path("teams/", team_names)]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def member_of_a():
    a = OrganizationFactory.create()
    TeamFactory.create(organization=a, name="Alpha team")
    return a, MemberFactory.create(organization=a)


def inject(sql: str, organization: Any = None) -> None:
    """``sql`` as injected into some request's statement: a Django cursor, the web role."""
    with tenant_context(organization), connection.cursor() as cursor:
        cursor.execute(sql)


def assert_the_web_role_is_bound_by_rls() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


# --- temporary tables --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_web_role_cannot_create_temporary_tables():
    # The README's role set-up and the embedded bootstrap revoke TEMPORARY on the database
    # (the test database is set up the same way: tests/conftest.py).
    assert_the_web_role_is_bound_by_rls()
    with (
        pytest.raises(ProgrammingError, match="permission denied to create temporary tables"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("CREATE TEMPORARY TABLE beep_probe (a int)")


@pytest.fixture
def temporary_tables_allowed(persistent_connection):
    """A set-up without the README's REVOKE: the web role may create temporary tables."""
    db = persistent_connection.settings_dict
    grant = f'TEMPORARY ON DATABASE "{db["NAME"]}"'
    with owner_commit() as owner:
        owner.execute(f'GRANT {grant} TO "{db["USER"]}"')
    try:
        yield persistent_connection
    finally:
        persistent_connection.close()  # the session's temporary tables go with it
        with owner_commit() as owner:
            owner.execute(f'REVOKE {grant} FROM "{db["USER"]}"')


@pytest.mark.django_db(transaction=True)
def test_the_system_check_reports_a_web_role_that_may_create_temporary_tables(
    temporary_tables_allowed,
):
    messages = check_row_level_security(None, databases=["default"])
    (message,) = [m for m in messages if m.id == "beep_shared.W015"]
    assert "temporary tables" in message.msg and "REVOKE TEMPORARY" in message.hint


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("session", ["first request", "verified session"])
def test_a_temporary_member_table_does_not_answer_the_membership_check(
    member_of_a, temporary_tables_allowed, session
):
    a, membership = member_of_a
    assert_the_web_role_is_bound_by_rls()
    handler = WSGIHandler()
    user = membership.user
    cookie = verified_cookie(handler, user, a) if session == "verified session" else None
    # A new server session (the check is prepared on it after the table exists), then the
    # injection, while the user is still a member (so the row is a real one, copied).
    connection.close()
    inject("CREATE TEMPORARY TABLE member AS SELECT * FROM member", a)
    # The membership ends (the test's own statement names the real table: the ORM's
    # unqualified one would now delete the temporary copy).
    inject(f"DELETE FROM public.member WHERE id = '{membership.pk}'", a)
    if cookie is None:
        cookie = login_cookie(user, a)
    for _ in range(2):
        status, body = wsgi_get(handler, "/teams/", cookie)
        assert status.startswith("200")
        assert (body["tenant"], body["teams"]) == (None, [])


@pytest.mark.django_db(transaction=True)
def test_no_form_of_the_check_reads_a_temporary_table(temporary_tables_allowed):
    org, stranger = OrganizationFactory.create(), UserFactory.create()
    fingerprint = access.password_fingerprint(stranger.password)
    with tenant_context(org):
        MemberFactory.create(organization=org)  # a real row to copy the shape from
    inject("CREATE TEMPORARY TABLE member AS SELECT * FROM member WHERE false")
    with tenant_context(org), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM public.member LIMIT 1")
        row = list(cursor.fetchone())
        columns = [c.name for c in cursor.description]
        row[columns.index("id")] = "member__forged"
        row[columns.index("user_id")] = stranger.pk
        placeholders = ", ".join(["%s"] * len(row))
        cursor.execute(f"INSERT INTO pg_temp.member VALUES ({placeholders})", row)
        cursor.execute("SELECT count(*) FROM member WHERE user_id = %s", [stranger.pk])
        assert cursor.fetchone()[0] == 1  # unqualified names see the forged row
    check = access.tenant_check(stranger.pk, fingerprint, org.pk)
    sql = access.tenant_check_sql(stranger.pk, fingerprint, org.pk)
    assert check is not None and sql is not None
    answers = []
    with tenant_context(org), connection.cursor() as cursor:
        cursor.execute(sql)
        answers.append(cursor.fetchone()[0])
        name = f"test_{check.statement.name}"
        cursor.execute(check.statement.prepare_sql.replace(check.statement.name, name, 1))
        cursor.execute(f"EXECUTE {name}(%s, %s, %s)", check.args)
        answers.append(cursor.fetchone()[0])
        cursor.execute(f"DEALLOCATE {name}")
    assert answers == ["", ""]
    assert not access.may_work_in(stranger, org)


# --- search_path -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "how", ["SET search_path = pg_catalog", "SELECT set_config('search_path', 'pg_catalog', false)"]
)
@pytest.mark.parametrize("where", ["transaction", "autocommit"])
def test_a_session_search_path_does_not_outlive_its_transaction(
    member_of_a, persistent_connection, how, where
):
    a, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        default = cursor.fetchone()[0]
    raw = connection.connection
    if where == "transaction":
        with transaction.atomic():
            inject(how, a)
    else:
        inject(how, a)
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        assert cursor.fetchone()[0] == default
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200") and body["teams"] == ["Alpha team"]
    assert connection.connection is raw  # the same server session throughout


@pytest.mark.django_db(transaction=True)
def test_the_check_names_its_tables_with_their_schema(persistent_connection):
    # Whatever search_path a statement runs with, the check reads the tables the
    # migrations made (here: none of them is on the path).
    org, user = OrganizationFactory.create(), UserFactory.create()
    with tenant_context(org):
        MemberFactory.create(organization=org, user=user)
    sql = access.tenant_check_sql(user.pk, access.password_fingerprint(user.password), org.pk)
    assert sql is not None
    with transaction.atomic(), tenant_context(org), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL search_path = pg_catalog; {sql}")
        cursor.nextset()
        assert cursor.fetchone()[0] == org.pk


# --- the prepared check ------------------------------------------------------------------------

YES_TO_ANYONE = "(text, text, text) AS SELECT set_config('app.current_org_id', $3, true)"


def check_name() -> str:
    statement = access._check_statement()
    assert statement is not None
    return statement.name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["planted before", "replaced", "replaced in a DO block"])
def test_a_prepared_statement_of_injected_sql_never_answers_the_check(
    member_of_a, persistent_connection, how
):
    a, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]  # prepares it
    name = check_name()
    if how == "planted before":
        # A new server session, on which the check has not been prepared yet.
        connection.close()
        inject(f"PREPARE {name}{YES_TO_ANYONE}")
    elif how == "replaced":
        inject(f"DEALLOCATE {name}; PREPARE {name}{YES_TO_ANYONE}")
    else:  # no DEALLOCATE or PREPARE in the statement's text
        quoted = YES_TO_ANYONE.replace("'", "''")
        inject(
            f"DO $$BEGIN EXECUTE chr(68) || 'EALLOCATE {name}';"
            f" EXECUTE chr(80) || 'REPARE {name}{quoted}'; END$$"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        assert "AS SELECT set_config('app.current_org_id', $3, true)" in cursor.fetchone()[0]
    raw = connection.connection
    with tenant_context(a):
        membership.delete()
    for _ in range(3):
        status, body = wsgi_get(handler, "/teams/", cookie)
        assert status.startswith("200")
        assert (body["tenant"], body["teams"]) == (None, [])
    assert connection.connection is raw
    # The session holds the check's own statement again (not a refusal on every request).
    statement = access._check_statement()
    assert statement is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        text = cursor.fetchone()[0]  # the whole message that prepared it
    assert statement.prepare_sql in text and YES_TO_ANYONE not in text
