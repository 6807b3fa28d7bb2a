"""The tenant context: transaction-local, no round trip of its own, restored on the way out."""

from __future__ import annotations

import threading
import warnings

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import ProgrammingError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from beep_shared.models import Team
from beep_shared.rls import (
    TENANT_SETTING,
    bypass_rls,
    current_scope,
    for_tenant,
    tenant_context,
)
from beep_shared.rls.connection import TenantChangedError
from beep_shared.rls.scope import NO_SCOPE
from tests.factories import OrganizationFactory, TeamFactory, UserFactory


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def orgs():
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    return a, b, TeamFactory.create(organization=a), TeamFactory.create(organization=b)


def visible_teams() -> set[str]:
    return set(Team.objects.values_list("pk", flat=True))


def db_value(sql: str, params: list | None = None) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if cursor.description else None


def setting() -> object:
    return db_value(f"SELECT current_setting('{TENANT_SETTING}', true)")


@pytest.mark.django_db(transaction=True)
def test_every_statement_carries_the_tenant_not_in_a_round_trip_of_its_own(orgs, monkeypatch):
    from beep_shared.rls import connection as rls_connection

    a, _, team_a, _ = orgs
    sent: list[list[str]] = []
    monkeypatch.setattr(rls_connection, "_send", lambda raw, statements: sent.append(statements))
    with tenant_context(a), CaptureQueriesContext(connection) as queries:
        assert visible_teams() == {team_a.pk}
        assert visible_teams() == {team_a.pk}
    executed = [q["sql"] for q in queries.captured_queries]
    assert len(executed) == 2  # two executions: nothing sent besides the two queries
    # The first also starts the transaction (the BEGIN psycopg would send alone).
    assert executed[0].startswith("BEGIN;\n")
    for sql in [executed[0].removeprefix("BEGIN;\n"), executed[1]]:
        # Each statement states it: raw SQL before it may have changed it (no parsing).
        assert sql.startswith(f"SET LOCAL {TENANT_SETTING} = '{a.pk}';\nSELECT ")
    assert sent == []


RAW_TENANT_CHANGES = {
    "leading comment": "/* maintenance */ SET LOCAL app.current_org_id = '{org}'",
    "second statement": "SELECT 1; SET LOCAL app.current_org_id = '{org}'",
    "set_config false next to true": (
        "SELECT set_config('app.current_org_id', '{org}', false), "
        "set_config('application_name', 'x', true)"
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("change", list(RAW_TENANT_CHANGES))
def test_raw_sql_changing_the_tenant_does_not_reach_later_orm_statements(orgs, change):
    a, b, team_a, _ = orgs
    with tenant_context(a):
        assert visible_teams() == {team_a.pk}
        db_value(RAW_TENANT_CHANGES[change].format(org=b.pk))
        assert visible_teams() == {team_a.pk}
        assert Team.objects.count() == 1
    assert visible_teams() == set()


@pytest.mark.django_db
def test_nested_contexts_switch_and_restore_the_tenant(orgs):
    a, b, team_a, team_b = orgs
    with tenant_context(a):
        assert visible_teams() == {team_a.pk}
        with tenant_context(b):
            assert visible_teams() == {team_b.pk}
            with tenant_context(None):
                assert visible_teams() == set()
            assert visible_teams() == {team_b.pk}
        assert visible_teams() == {team_a.pk}
    # Still inside the test's transaction: the next statement clears the tenant.
    assert visible_teams() == set()
    assert setting() == ""


@pytest.mark.django_db
def test_a_rolled_back_savepoint_does_not_lose_the_tenant(orgs):
    a, b, team_a, _ = orgs
    with tenant_context(a):
        with pytest.raises(Boom), transaction.atomic():
            # The tenant is first sent inside this savepoint; the rollback undoes it ...
            assert visible_teams() == {team_a.pk}
            raise Boom
        # ... and the next statement sends it again.
        assert visible_teams() == {team_a.pk}
        with pytest.raises(ProgrammingError), transaction.atomic():
            Team.objects.create(organization=b, name="x", slug="x-rolled-back")
        assert visible_teams() == {team_a.pk}


@pytest.mark.django_db
def test_an_exception_leaves_the_context_cleanly(orgs):
    a = orgs[0]
    with pytest.raises(Boom), tenant_context(a):
        assert current_scope().tenant_id == a.pk
        raise Boom
    assert current_scope() == NO_SCOPE
    assert visible_teams() == set()


@pytest.mark.django_db
def test_decorators_run_the_function_as_the_tenant(orgs):
    a, b, team_a, team_b = orgs

    @tenant_context(a.pk)
    def teams_of_a() -> set[str]:
        return visible_teams()

    @for_tenant("org")
    def teams_of(org: object) -> set[str]:
        return visible_teams()

    assert teams_of_a() == {team_a.pk}
    assert teams_of(b) == {team_b.pk}
    assert teams_of(org=a.pk) == {team_a.pk}
    with pytest.raises(TypeError, match="no parameter"):
        for_tenant("missing")(teams_of_a)


@pytest.mark.django_db
def test_a_new_thread_starts_without_the_tenant(orgs):
    seen: list[object] = []
    with tenant_context(orgs[0]):
        thread = threading.Thread(target=lambda: seen.append(current_scope()))
        thread.start()
        thread.join()
        assert current_scope().tenant_id == orgs[0].pk
    assert seen == [NO_SCOPE]


@pytest.mark.django_db
def test_tenant_ids_are_validated():
    with pytest.raises(ValidationError, match="organization__<uuid>"):
        tenant_context("user__01a20079-5d89-7c46-97ad-22047c38d31c")
    with pytest.raises(ValidationError):
        tenant_context("organization__x' OR '1'='1")


@pytest.mark.django_db
def test_statements_that_cannot_carry_a_prefix_get_the_setting_first(orgs):
    a, _, team_a, _ = orgs
    with tenant_context(a):
        # Server-side cursor (iterator with chunks): psycopg declares it itself.
        assert {t.pk for t in Team.objects.iterator(chunk_size=1)} == {team_a.pk}
    with tenant_context(a):
        with connection.cursor() as cursor:  # executemany: one statement, many parameter sets
            cursor.executemany(
                "INSERT INTO team (organization_id, name, slug) VALUES (%s, %s, %s)",
                [(a.pk, "m1", "m-1"), (a.pk, "m2", "m-2")],
            )
        assert Team.objects.filter(slug__startswith="m-").count() == 2


@pytest.mark.django_db(transaction=True)
def test_bypass_runs_on_its_own_login_and_sees_every_tenant(orgs):
    _, b, team_a, team_b = orgs
    app_role = db_value("SELECT current_user")  # whatever DATABASE_URL names
    with bypass_rls() as bypass:
        assert visible_teams() == {team_a.pk, team_b.pk}
        with bypass.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == bypass.settings_dict["USER"]
        # The web connection itself gains nothing: no tenant, its own role.
        assert db_value("SELECT current_user") == app_role
        assert db_value("SELECT count(*) FROM team") == 0
        with tenant_context(b):
            assert visible_teams() == {team_b.pk}
        # Writes in any organization: maintenance across tenants.
        ops = Team.objects.create(organization=b, name="ops", slug="ops-team")
    assert ops._state.db == "bypass"
    assert db_value("SELECT current_user") == app_role
    assert visible_teams() == set()
    ops.name = "ops renamed"
    # Outside the block a row loaded there goes through the RLS alias again, no tenant:
    with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
        ops.save()
    with tenant_context(b):
        assert Team.objects.get(pk=ops.pk).name == "ops"


@pytest.mark.django_db
def test_the_web_role_cannot_become_the_bypass_role():
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        db_value(f'SET ROLE "{connections["bypass"].settings_dict["USER"]}"')
    reachable = db_value(
        "SELECT count(*) FROM pg_roles r WHERE (r.rolsuper OR r.rolbypassrls) "
        "AND pg_has_role(current_user, r.oid, 'MEMBER')"
    )
    assert reachable == 0


@pytest.mark.django_db
def test_bypass_is_refused_when_no_alias_is_configured(settings):
    settings.BEEP_SHARED = {"RLS_BYPASS_DATABASE": "no_such_alias"}
    with pytest.raises(ImproperlyConfigured, match="not in DATABASES"), bypass_rls():
        pass
    del settings.BEEP_SHARED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding setting DATABASES": only read here
        settings.DATABASES = {"default": settings.DATABASES["default"]}
    with pytest.raises(ImproperlyConfigured, match="BYPASSRLS"), bypass_rls():
        pass


@pytest.mark.django_db(transaction=True)
def test_own_transaction_is_opened_and_the_setting_ends_with_it(orgs):
    a, _, team_a, _ = orgs
    pid = db_value("SELECT pg_backend_pid()")
    assert not connection.in_atomic_block
    callbacks: list[set[str]] = []
    with tenant_context(a):
        assert connection.in_atomic_block
        assert setting() == a.pk
        kept = Team.objects.create(organization=a, name="kept", slug="kept")
        # on_commit callbacks run after the commit, still as the tenant.
        transaction.on_commit(lambda: callbacks.append(visible_teams()))
    assert not connection.in_atomic_block
    assert callbacks == [{team_a.pk, kept.pk}]
    assert db_value("SELECT pg_backend_pid()") == pid  # same session ...
    assert setting() in ("", None)  # ... and the tenant went with the transaction
    assert visible_teams() == set()

    with pytest.raises(Boom), tenant_context(a):
        Team.objects.create(organization=a, name="lost", slug="lost")
        raise Boom
    with tenant_context(a):
        assert not Team.objects.filter(slug="lost").exists()  # rolled back


@pytest.mark.django_db
def test_every_transaction_states_its_tenant_even_without_one(orgs):
    a, _, _, _ = orgs
    # A session-level setting on the connection (raw SQL, another pgbouncer client) ...
    db_value("SELECT set_config('app.current_org_id', %s, false)", [a.pk])
    try:
        with transaction.atomic():
            assert visible_teams() == set()  # ... is overridden: no tenant, no rows
        assert visible_teams() == set()  # autocommit statements too
    finally:
        db_value("RESET app.current_org_id")


@pytest.mark.django_db
@pytest.mark.parametrize("leave", ["tenant", "bypass"])
def test_leaving_a_scope_restores_the_outer_one_at_once(orgs, leave):
    """COPY and the raw psycopg connection skip the wrapper: they must not keep the inner
    scope after the block (they used to, until the next ordinary statement)."""
    a, b, team_a, _ = orgs
    with tenant_context(a):
        assert visible_teams() == {team_a.pk}
        inner = tenant_context(b) if leave == "tenant" else bypass_rls()
        with inner:
            visible_teams()
            db_value("SELECT 1")  # the web connection, inside the inner scope
        raw = connection.connection
        assert raw.execute("SELECT current_setting('app.current_org_id')").fetchone()[0] == a.pk
        copy_sql = "COPY (SELECT id FROM team) TO STDOUT"
        with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            rows = {bytes(row).decode().strip() for row in copy}
        assert rows == {team_a.pk}


def copied_teams() -> set[str]:
    with (
        connection.cursor() as cursor,
        cursor.copy("COPY (SELECT id FROM team) TO STDOUT") as copy,
    ):
        return {bytes(row).decode().strip() for row in copy}


@pytest.mark.django_db
@pytest.mark.parametrize("enter", ["tenant", "bypass"])
def test_entering_a_scope_applies_it_at_once(orgs, enter):
    """COPY and the raw psycopg connection skip the wrapper: inside a nested scope they must
    run with it from its first line, not with the outer scope until the next statement."""
    a, b, team_a, team_b = orgs
    with tenant_context(a):
        assert visible_teams() == {team_a.pk}
        inner, expected = (tenant_context(b), b.pk) if enter == "tenant" else (bypass_rls(), "")
        with inner:
            raw = connection.connection
            assert raw.execute("SELECT current_setting('app.current_org_id')").fetchone()[0] == (
                expected
            )
            assert copied_teams() == ({team_b.pk} if enter == "tenant" else set())
        assert copied_teams() == {team_a.pk}


def more_teams(org, count: int) -> set[str]:
    return {TeamFactory.create(organization=org).pk for _ in range(count)}


@pytest.mark.django_db
def test_an_iterator_is_never_fetched_as_another_tenant(orgs):
    """A server-side cursor reads its rows as it is fetched: under another tenant it would
    return that tenant's rows (sequential scan) or too few (index scan)."""
    a, b, team_a, _ = orgs
    teams_a = more_teams(a, 3) | {team_a.pk}
    more_teams(b, 3)
    with tenant_context(a):
        rows = Team.objects.iterator(chunk_size=1)
        assert next(rows).pk in teams_a
        with tenant_context(b), pytest.raises(TenantChangedError, match="declared as tenant"):
            next(rows)


@pytest.mark.django_db
def test_an_iterator_fetches_as_its_tenant_whatever_ran_between_fetches(orgs):
    a, b, team_a, _ = orgs
    teams_a = more_teams(a, 3) | {team_a.pk}
    more_teams(b, 3)
    with tenant_context(a):
        # Other statements between the fetches, even raw SQL changing the tenant: still
        # only the declaring tenant's rows.
        rows = Team.objects.iterator(chunk_size=1)
        seen = {next(rows).pk}
        db_value(f"/* x */ SET LOCAL app.current_org_id = '{b.pk}'")
        assert visible_teams() == teams_a
        seen |= {team.pk for team in rows}
        assert seen == teams_a


@pytest.mark.django_db(transaction=True)
def test_statements_bound_on_the_server_state_the_tenant_too(orgs):
    """With OPTIONS["server_side_binding"] no statement can carry a prefix: the setting goes
    first, before every statement, since any of them may have changed it."""
    a, b, team_a, _ = orgs
    db = connection.settings_dict
    saved = db["OPTIONS"]
    connection.close()
    db["OPTIONS"] = {**saved, "server_side_binding": True}
    try:
        with tenant_context(a):
            assert visible_teams() == {team_a.pk}
            db_value(f"/* x */ SET LOCAL app.current_org_id = '{b.pk}'")
            assert visible_teams() == {team_a.pk}
    finally:
        connection.close()
        db["OPTIONS"] = saved


@pytest.mark.django_db
def test_composed_sql_gets_the_tenant_too(orgs):
    from psycopg import sql

    a, _, team_a, _ = orgs
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier("team")))
        assert {row[0] for row in cursor.fetchall()} == {team_a.pk}


@pytest.mark.django_db(transaction=True)
def test_an_error_at_the_resetting_commit_is_raised_and_undoes_the_transaction():
    """The commit (reset and COMMIT in one message, without a cursor) raises what fails in
    it, a deferred constraint here (Django's foreign keys are checked at COMMIT), as Django's
    own commit would, and leaves the connection usable."""
    from django.db import IntegrityError

    missing = "user__00000000-0000-7000-8000-0000000000aa"
    insert = (
        'INSERT INTO "session" (token, expires_at, user_id) '
        "VALUES (%s, now() + interval '1 day', %s)"
    )
    with (
        pytest.raises(IntegrityError, match="session_user_id_fkey"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(insert, ["beep-test-deferred", missing])
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "session" WHERE token = %s', ["beep-test-deferred"])
        assert cursor.fetchone()[0] == 0
    user = UserFactory.create()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert, ["beep-test-deferred", user.pk])
    with connection.cursor() as cursor:
        cursor.execute('SELECT user_id FROM "session" WHERE token = %s', ["beep-test-deferred"])
        assert cursor.fetchall() == [(user.pk,)]


@pytest.mark.django_db(transaction=True)
def test_a_commit_resets_what_raw_sql_set_for_the_session(orgs):
    a, _, team_a, _ = orgs
    with tenant_context(a):
        raw = connection.connection
        raw.execute("SELECT set_config('app.current_org_id', %s, false)", [a.pk])
        db_value("/* x */ SET app.current_org_id = %s", [a.pk])
        assert visible_teams() == {team_a.pk}
    assert connection.connection.execute(
        "SELECT current_setting('app.current_org_id', true)"
    ).fetchone()[0] in ("", None)
    # Autocommit statements reset the session as they end, too.
    db_value("SELECT set_config('app.current_org_id', %s, false)", [a.pk])
    assert connection.connection.execute(
        "SELECT current_setting('app.current_org_id', true)"
    ).fetchone()[0] in ("", None)
