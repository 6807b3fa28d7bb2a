"""The request's organization check rides on the user's own load (issue 16's speed goal).

TenantMiddleware must load the request's user (Django verifies the session with it) and
check that the user may still work in the session's organization. Both are answered by one
statement; these tests pin that shape and that every refusal of the rule still holds on the
very next request.
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from typing import Any

import psycopg
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.urls import path
from django.utils import timezone

from beep_shared.rls import access, tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY, VERIFIED_SESSION_KEY
from tests.factories import MemberFactory, OrganizationFactory, TeamFactory, UserFactory
from tests.owner import owner_commit
from tests.rls.test_rls_requests import team_names, wsgi_get

urlpatterns = [path("teams/", team_names)]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login_cookie(user: Any, organization: Any) -> str:
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[ACTIVE_TENANT_SESSION_KEY] = organization.pk
    store[SESSION_KEY] = user.pk
    store[BACKEND_SESSION_KEY] = django_settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{django_settings.SESSION_COOKIE_NAME}={store.session_key}"


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Every message sent through psycopg cursors (the wrapper's and the raw ones)."""
    messages: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        messages.append(str(query))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return messages


@pytest.fixture
def member_of_a():
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    TeamFactory.create(organization=a, name="Alpha team")
    TeamFactory.create(organization=b, name="Beta team")
    membership = MemberFactory.create(organization=a)
    return a, b, membership


@pytest.mark.django_db(transaction=True)
def test_the_user_load_answers_the_organization_check(member_of_a, sent):
    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = login_cookie(membership.user, a)
    sent.clear()
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200")
    assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
    user_loads = [m for m in sent if 'FROM "user"' in m]
    assert len(user_loads) == 1
    assert '"member"' in user_loads[0]  # the membership check rides on it
    # No statement of its own for the check, and no bare re-statement of the tenant by the
    # check's nested tenant_context() (same tenant as the request's).
    assert [m for m in sent if '"member"' in m] == user_loads
    assert not [m for m in sent if m.strip().startswith("SET LOCAL") and ";" not in m]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "lose", ["membership deleted", "membership suspended", "banned", "soft-deleted", "inactive"]
)
def test_a_member_who_loses_the_organization_loses_it_on_the_next_request(member_of_a, lose):
    a, _, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    cookie = login_cookie(user, a)
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]

    if lose == "membership deleted":
        with tenant_context(a):
            membership.delete()
    elif lose == "membership suspended":
        with tenant_context(a):
            membership.status = "suspended"
            membership.save()
    elif lose == "banned":
        user.banned = True
        user.save()
    elif lose == "soft-deleted":
        user.deleted_at = timezone.now()
        user.save()
    else:
        user.is_active = False
        user.save()
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200")
    assert (body["tenant"], body["teams"]) == (None, [])


@pytest.mark.django_db(transaction=True)
def test_an_expired_ban_and_a_new_membership_count_on_the_next_request(member_of_a):
    _, b, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    assert wsgi_get(handler, "/teams/", login_cookie(user, b))[1]["tenant"] is None
    MemberFactory.create(organization=b, user=user)
    user.banned, user.ban_expires = True, timezone.now() - dt.timedelta(minutes=1)
    user.save()
    # (The refused choice was dropped from that session; a new one chooses b again.)
    assert wsgi_get(handler, "/teams/", login_cookie(user, b))[1]["teams"] == ["Beta team"]


@pytest.mark.django_db(transaction=True)
def test_a_password_change_still_ends_the_sessions_tenant(member_of_a):
    a, _, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    cookie = login_cookie(user, a)
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]
    user.set_password("a new password")
    user.save()
    body = wsgi_get(handler, "/teams/", cookie)[1]
    assert (body["tenant"], body["teams"]) == (None, [])


@pytest.mark.django_db(transaction=True)
def test_superusers_work_in_existing_organizations_only(member_of_a):
    a, _, _ = member_of_a
    superuser = UserFactory.create(is_staff=True, is_superuser=True)
    handler = WSGIHandler()
    assert wsgi_get(handler, "/teams/", login_cookie(superuser, a))[1]["teams"] == ["Alpha team"]
    gone = OrganizationFactory.create()
    cookie = login_cookie(superuser, gone)
    gone.delete()
    assert wsgi_get(handler, "/teams/", cookie)[1]["tenant"] is None


@pytest.mark.django_db
def test_a_loaded_answer_serves_one_check_of_its_own_user_and_organization(member_of_a):
    from beep_shared.backends import UserBackend

    a, b, membership = member_of_a
    user_id = membership.user.pk
    with tenant_context(a), access.check_with_user_load(a.pk):
        user = UserBackend().get_user(user_id)
    assert access.may_work_in(user, a)  # the loaded answer
    with tenant_context(a):
        membership.delete()
    assert not access.may_work_in(user, a)  # asked again: the answer served once
    with tenant_context(a), access.check_with_user_load(a.pk):
        user = UserBackend().get_user(user_id)
    assert not access.may_work_in(user, b)  # another organization: asked, not taken


@pytest.mark.django_db
def test_no_answer_is_loaded_outside_the_organizations_own_tenant(member_of_a):
    # Membership rows are visible to their tenant only: loaded as another tenant (or none)
    # the answer would be "no" for a member, so none is loaded and the rule asks itself.
    from beep_shared.backends import UserBackend

    a, b, membership = member_of_a
    for scope in (None, b):
        with tenant_context(scope), access.check_with_user_load(a.pk):
            user = UserBackend().get_user(membership.user.pk)
        assert not hasattr(user, "_beep_work_in_loaded")
        assert access.may_work_in(user, a)


# --- a session verified before: the database answers the rule, no user load ------------------


def verified_cookie(handler: WSGIHandler, user: Any, organization: Any) -> str:
    """A session after its first tenant request (which remembered the verification)."""
    cookie = login_cookie(user, organization)
    assert wsgi_get(handler, "/teams/", cookie)[0].startswith("200")
    key = cookie.split("=", 1)[1]
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    assert session.get(VERIFIED_SESSION_KEY), "the first request remembers the verification"
    return cookie


@pytest.mark.django_db(transaction=True)
def test_a_verified_session_is_checked_by_the_database_in_front_of_the_first_statement(
    member_of_a, sent
):
    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    sent.clear()
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200")
    assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
    # No user load and no statement of the check's own: it rides with the first one.
    user_columns = [m for m in sent if '"user"."password"' in m]
    assert user_columns == []
    checked = [m for m in sent if "EXECUTE beep_tenant_check_" in m]
    assert len(checked) == 1 and "pg_backend_pid" in checked[0]


def prepared_checks() -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement FROM pg_prepared_statements"
            " WHERE name LIKE 'beep_tenant_check_%%'"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_the_check_is_planned_once_per_server_session(member_of_a, sent, persistent_connection):
    # Planning the check cost the server more than the rest of a small request: it is
    # prepared on the session the first time and executed with its arguments afterwards.
    # (A new connection prepares it again: the statement lives as long as the session.)
    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    for _ in range(3):
        sent.clear()
        assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]
        checked = [m for m in sent if "EXECUTE beep_tenant_check_" in m]
        assert len(checked) == 1
    assert not [m for m in sent if "PREPARE" in m]  # the last two requests only executed it
    [(name, statement)] = prepared_checks()
    assert f"EXECUTE {name}(" in checked[0]
    assert "set_config" in statement and '"member"' in statement and "$3" in statement


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("discard", ["DEALLOCATE ALL", "DISCARD ALL"])
def test_a_check_deallocated_behind_its_back_is_prepared_again(
    member_of_a, discard, sent, persistent_connection
):
    connection = persistent_connection
    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]
    assert prepared_checks()
    raw = connection.connection
    raw.execute(discard)  # raw SQL of the application, past Django
    # EXECUTE fails ("prepared statement does not exist"): a refusal, so the request is
    # served the ordinary way, as the tenant; the next one prepares the check again.
    body = wsgi_get(handler, "/teams/", cookie)[1]
    assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
    sent.clear()
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]
    checked = [m for m in sent if "EXECUTE beep_tenant_check_" in m]
    assert len(checked) == 1 and "PREPARE beep_tenant_check_" in checked[0]
    assert len(prepared_checks()) == 1
    assert connection.connection is raw  # the same session throughout


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rollback", ["transaction", "savepoint"])
def test_psycopgs_deallocate_all_after_a_rollback_prepares_the_check_again(
    member_of_a, sent, persistent_connection, rollback
):
    # Once psycopg has prepared statements of its own (beep_iam's prepared lookups), it
    # follows a ROLLBACK (also to a savepoint) with DEALLOCATE ALL, the check's included.
    from django.db import transaction

    from beep_shared.models import Team

    connection = persistent_connection
    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    assert wsgi_get(handler, "/teams/", cookie)[1]["teams"] == ["Alpha team"]
    raw = connection.connection
    raw.prepare_threshold = 1 << 30
    raw.execute("SELECT 1", prepare=True)  # psycopg's own
    raw.prepare_threshold = None
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        if rollback == "savepoint":
            with transaction.atomic():
                Team.objects.count()
                raise ZeroDivisionError
        Team.objects.count()
        raise ZeroDivisionError
    sent.clear()
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200") and (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
    checked = [m for m in sent if "EXECUTE beep_tenant_check_" in m]
    assert len(checked) == 1 and "PREPARE beep_tenant_check_" in checked[0]  # not refused
    assert connection.connection is raw


def discard_all(raw: Any) -> None:
    raw.execute("DISCARD ALL")


@pytest.mark.django_db(transaction=True)
def test_a_pool_reset_of_the_projects_own_prepares_the_check_again(member_of_a, sent):
    # Django's pool with a project's own reset (here DISCARD ALL, which drops prepared
    # statements) on its one connection: every checkout prepares the check again rather
    # than failing on EXECUTE and serving the request twice.
    from django.db import connection

    a, _, membership = member_of_a
    db = connection.settings_dict
    saved = db["CONN_MAX_AGE"], dict(db["OPTIONS"])
    connection.close()
    db["CONN_MAX_AGE"] = 0
    db["OPTIONS"] = {
        **db["OPTIONS"],
        "pool": {"min_size": 1, "max_size": 1, "reset": discard_all},
    }
    try:
        handler = WSGIHandler()
        cookie = verified_cookie(handler, membership.user, a)
        for _ in range(2):
            sent.clear()
            body = wsgi_get(handler, "/teams/", cookie)[1]
            assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
            checked = [m for m in sent if "EXECUTE beep_tenant_check_" in m]
            assert len(checked) == 1 and "PREPARE beep_tenant_check_" in checked[0]
        assert not [m for m in sent if '"user"."password"' in m]  # never the ordinary way
    finally:
        connection.close()
        connection.close_pool()
        db["CONN_MAX_AGE"], db["OPTIONS"] = saved


@pytest.mark.django_db(transaction=True)
def test_nothing_is_prepared_where_sessions_change_between_transactions(member_of_a, sent):
    # DISABLE_SERVER_SIDE_CURSORS is Django's sign of PgBouncer in transaction mode: the
    # next transaction may run on another server session, without the prepared statement.
    from django.db import connection

    a, _, membership = member_of_a
    handler = WSGIHandler()
    connection.close()
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        cookie = verified_cookie(handler, membership.user, a)
        sent.clear()
        body = wsgi_get(handler, "/teams/", cookie)[1]
        assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
        assert not [m for m in sent if "PREPARE" in m or "EXECUTE" in m]
        checked = [m for m in sent if "set_config" in m and '"member"' in m]
        assert len(checked) == 1 and "pg_backend_pid" in checked[0]
        assert prepared_checks() == []
    finally:
        connection.close()
        del connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "lose",
    ["membership deleted", "membership suspended", "banned", "soft-deleted", "inactive", "gone"],
)
def test_a_verified_session_loses_the_organization_on_the_next_request(member_of_a, lose):
    a, _, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    cookie = verified_cookie(handler, user, a)
    if lose == "membership deleted":
        with tenant_context(a):
            membership.delete()
    elif lose == "membership suspended":
        with tenant_context(a):
            membership.status = "suspended"
            membership.save()
    elif lose == "banned":
        user.banned = True
        user.save()
    elif lose == "soft-deleted":
        user.deleted_at = timezone.now()
        user.save()
    elif lose == "inactive":
        user.is_active = False
        user.save()
    else:
        with tenant_context(a):
            membership.delete()
        a.delete()
    status, body = wsgi_get(handler, "/teams/", cookie)
    assert status.startswith("200")
    assert (body["tenant"], body["teams"]) == (None, [])


@pytest.mark.django_db(transaction=True)
def test_a_password_change_elsewhere_ends_a_verified_sessions_tenant(member_of_a):
    a, _, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    cookie = verified_cookie(handler, user, a)
    user.set_password("changed elsewhere")
    user.save()
    body = wsgi_get(handler, "/teams/", cookie)[1]
    assert (body["tenant"], body["teams"]) == (None, [])
    key = cookie.split("=", 1)[1]
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    assert SESSION_KEY not in session  # Django's own verification logged it out


@pytest.mark.django_db(transaction=True)
def test_a_password_changed_in_the_session_itself_keeps_the_tenant(member_of_a):
    # Django's update_session_auth_hash keeps that session logged in: the remembered
    # fingerprint is stale, the database refuses, the ordinary way allows and re-remembers.
    a, _, membership = member_of_a
    user = membership.user
    handler = WSGIHandler()
    cookie = verified_cookie(handler, user, a)
    key = cookie.split("=", 1)[1]
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    old_record = store[VERIFIED_SESSION_KEY]
    user.set_password("changed here")
    user.save()
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    body = wsgi_get(handler, "/teams/", cookie)[1]
    assert (body["tenant"], body["teams"]) == (a.pk, ["Alpha team"])
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    assert store[VERIFIED_SESSION_KEY] not in (None, old_record)


def create_organization_then_list_teams(request: Any) -> Any:
    OrganizationFactory.create(name="made by the view")
    return team_names(request)


urlpatterns.append(path("create-then-list/", create_organization_then_list_teams))


@pytest.mark.django_db(transaction=True)
def test_a_refused_request_is_undone_and_runs_once_more_with_no_tenant(member_of_a):
    from beep_shared.models import Organization

    a, _, membership = member_of_a
    handler = WSGIHandler()
    cookie = verified_cookie(handler, membership.user, a)
    with tenant_context(a):
        membership.delete()
    status, body = wsgi_get(handler, "/create-then-list/", cookie)
    assert status.startswith("200")
    assert (body["tenant"], body["teams"]) == (None, [])
    # The refused run's write (a table without row level security) was rolled back.
    assert Organization.objects.filter(name="made by the view").count() == 1


@pytest.mark.django_db
def test_a_tampered_or_foreign_record_is_not_taken(member_of_a):
    _, _, membership = member_of_a
    user = membership.user
    record = access.verified_session_record(user)
    assert access.record_holds(record, user.pk) == record[1]
    assert access.record_holds(record, UserFactory.create().pk) is None
    assert access.record_holds([record[0], "0" * 64, record[2]], user.pk) is None
    assert access.record_holds([*record[:2], "0" * 64], user.pk) is None
    assert access.record_holds("not a record", user.pk) is None
    # Another SECRET_KEY (without the ordinary load's fallbacks) ends the record, though
    # its MAC was computed, and kept, under the old one.
    with override_settings(SECRET_KEY="another secret key, rotated"):
        assert access.record_holds(record, user.pk) is None
        assert access.record_holds(access.verified_session_record(user), user.pk) == record[1]
    assert access.record_holds(record, user.pk) == record[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case",
    [
        "member",
        "suspended member",
        "owner",
        "stranger",
        "superuser",
        "banned member",
        "ban expired member",
        "inactive member",
        "soft-deleted member",
        "member with a stale fingerprint",
    ],
)
def test_the_sql_check_answers_as_may_work_in(case):
    from django.db import connection, transaction

    org = OrganizationFactory.create()
    user = UserFactory.create(is_superuser=case == "superuser")
    if case == "owner":
        org.owner_user = user
        org.save()
    elif "member" in case:
        with tenant_context(org):
            MemberFactory.create(
                organization=org, user=user, status="suspended" if "suspended" in case else "active"
            )
    if case.startswith("banned"):
        user.banned = True
    elif case.startswith("ban expired"):
        user.banned, user.ban_expires = True, timezone.now() - dt.timedelta(seconds=5)
    elif case.startswith("inactive"):
        user.is_active = False
    elif case.startswith("soft-deleted"):
        user.deleted_at = timezone.now()
    user.save()
    fingerprint = access.password_fingerprint(user.password)
    if case == "member with a stale fingerprint":
        fingerprint = access.password_fingerprint(user.password + "x")
    sql = access.tenant_check_sql(user.pk, fingerprint, org.pk)
    check = access.tenant_check(user.pk, fingerprint, org.pk)
    assert sql is not None and check is not None
    answers = []
    with tenant_context(org), connection.cursor() as cursor:
        cursor.execute(sql)  # as sent where nothing is prepared
        answers.append(cursor.fetchone()[0])
        cursor.execute("SELECT current_setting('app.current_org_id')")
        assert cursor.fetchone()[0] == org.pk  # each statement states its tenant again
        # As prepared (its own name: the requests' statement may exist on this session).
        name = f"test_{check.statement.name}"
        cursor.execute(check.statement.prepare_sql.replace(check.statement.name, name, 1))
        for _ in range(7):  # past PostgreSQL's five custom plans: the generic one too
            cursor.execute(f"EXECUTE {name}(%s, %s, %s)", check.args)
            answers.append(cursor.fetchone()[0])
        cursor.execute(f"DEALLOCATE {name}")
    # As the middleware asks it: no tenant stated yet (membership rows are visible to their
    # organization's tenant only, so the check must state it before it reads them).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
        answers.append(cursor.fetchone()[0])
        cursor.execute(f"{check.statement.prepare_sql.replace(check.statement.name, name, 1)}")
        for _ in range(7):
            cursor.execute(f"EXECUTE {name}(%s, %s, %s)", check.args)
            answers.append(cursor.fetchone()[0])
        cursor.execute(f"DEALLOCATE {name}")
    expected = access.may_work_in(user, org) and "stale" not in case
    assert answers == [org.pk if expected else ""] * 16
    assert expected == (
        case in ("member", "owner", "superuser", "ban expired member")
    )  # the cases themselves mean what they say


def test_the_routed_alias_follows_settings_changes():
    from django.conf import settings
    from django.test import override_settings

    from beep_shared.rls.routing import rls_database

    other = next(alias for alias in settings.DATABASES if alias != "default")
    assert rls_database() == "default"
    with override_settings(BEEP_SHARED={"RLS_DATABASE": other}):
        assert rls_database() == other
    assert rls_database() == "default"


def _blocks(plan: dict[str, Any]) -> int:
    """Buffers an executed plan touched (its top node counts its children's)."""
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


@pytest.mark.django_db(transaction=True)  # committed rows, so the owner can ANALYZE them
def test_a_member_of_a_large_organization_is_checked_by_one_index_probe():
    """Every tenant request asks the membership rule: it must find the user's membership
    through the (organization, user) index, not by reading the organization's other
    members (a hashed subplan over 9,000 active members took 4-9 ms per request). Ten
    organizations of 2,000 members, 90 % of them active."""
    import json

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    org = OrganizationFactory.create()
    others = OrganizationFactory.create_batch(9)
    member = UserFactory.create()
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO "user" (name, email) SELECT %s || g, %s || g || %s '
            "FROM generate_series(1, %s) g",
            ["crowd ", "crowd-", "@example.com", 2000],
        )
    for each in [org, *others]:
        with tenant_context(each), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO member (organization_id, user_id, status) SELECT %s, id, "
                "CASE WHEN random() < 0.9 THEN 'active' ELSE 'suspended' END "
                """FROM "user" WHERE email LIKE 'crowd-%%'""",
                [each.pk],
            )
    with tenant_context(org):
        MemberFactory.create(organization=org, user=member)
    # The statistics autovacuum would gather (only the tables' owner may ANALYZE them): the
    # plan depends on them.
    with owner_commit() as owner:
        for table in ("member", '"user"', "organization"):
            owner.execute(f"ANALYZE {table}")
    fingerprint = access.password_fingerprint(member.password)
    check = access.tenant_check(member.pk, fingerprint, org.pk)
    assert check is not None
    name = f"test_{check.statement.name}"
    touched = []
    with transaction.atomic(), connection.cursor() as cursor:  # no tenant yet, as a request
        cursor.execute(check.statement.prepare_sql.replace(check.statement.name, name, 1))
        for _ in range(7):  # the custom plans and the generic one
            cursor.execute(f"EXECUTE {name}(%s, %s, %s)", check.args)
            assert cursor.fetchone()[0] == org.pk
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}(%s, %s, %s)", check.args
            )
            document = cursor.fetchone()[0]
            plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
            touched.append(_blocks(plan))
        cursor.execute(f"DEALLOCATE {name}")
        # The ordinary way (may_work_in) runs the same membership statement.
        with CaptureQueriesContext(connection) as queries:
            assert access.may_work_in(member, org)
    assert max(touched) < 20, touched  # 8 here; ~70 through the organization's members
    assert any('"member"' in query["sql"] for query in queries)
