"""The better-auth role: exactly better-auth's tables and columns, and only when configured."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from beep_iam.better_auth import grants, mapping
from beep_iam.conf import check_settings, load
from tests.host_project import HOST_DATABASES, start_project
from tests.owner import owner_cursor
from tests.project.test_reuse_in_host_project import host_database, run_django  # noqa: F401
from tests.readme import block

from .conftest import server_env

DJANGO_ONLY = sorted(column for table, column in mapping.DJANGO_COLUMNS if table == "user")

Snapshot = set[tuple[str, str | None, str]]


@pytest.fixture
def as_auth_role(django_db_setup: None) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the test database as the better-auth role, in a transaction rolled
    back at the end."""
    env = server_env()
    with psycopg.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        dbname=env["PGDATABASE"],
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
    ) as conn:
        yield conn
        conn.rollback()


def _refused(conn: psycopg.Connection[Any], sql: str) -> bool:
    try:
        with conn.transaction():
            conn.execute(sql)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE "user" SET is_superuser = true',
        'UPDATE "user" SET is_staff = true',
        "UPDATE \"user\" SET password = '!'",
        'UPDATE "user" SET is_active = true',
        'UPDATE "user" SET last_login = now()',
        "INSERT INTO \"user\" (name, email, is_superuser) VALUES ('x', 'x@example.com', true)",
        # What Drizzle sends for every column of its schema that a row leaves out.
        "INSERT INTO \"user\" (name, email, is_staff) VALUES ('x', 'x@example.com', DEFAULT)",
        'SELECT password FROM "user"',
        'SELECT * FROM "user"',
    ],
)
def test_auth_role_cannot_touch_djangos_own_user_columns(as_auth_role, sql):
    assert _refused(as_auth_role, sql)


def test_auth_role_writes_better_auths_user_columns(as_auth_role):
    """What better-auth does to a user: insert with its columns (Drizzle's DEFAULTs
    included), read, update and delete (the interop tests run the real flows)."""
    table = next(t for t in mapping.tables() if t.name == "user")
    names = [c.name for c in table.better_auth_columns]
    cols = ", ".join(f'"{name}"' for name in names)
    values = ", ".join(
        {"name": "'Ann'", "email": "'ann-grants@example.com'"}.get(name, "DEFAULT")
        for name in names
    )
    with as_auth_role.transaction(force_rollback=True):
        row = as_auth_role.execute(
            f'INSERT INTO "user" ({cols}) VALUES ({values}) RETURNING {cols}'
        ).fetchone()
        assert row is not None
        user_id = row[0]
        as_auth_role.execute(
            'UPDATE "user" SET name = %s, banned = true, role = %s, updated_at = now() '
            "WHERE id = %s",
            ["Ann B", "admin", user_id],
        )
        assert as_auth_role.execute('SELECT count(*) FROM "user"').fetchone()
        deleted = as_auth_role.execute('DELETE FROM "user" WHERE id = %s', [user_id])
        assert deleted.rowcount == 1


def _snapshot(cursor: Any, role: str) -> Snapshot:
    """The role's privileges on the schema's tables: (table, None, p) for table-level ones,
    (table, column, p) for columns reachable only through column-level ones."""
    cursor.execute(
        """
        SELECT c.relname, NULL, p.privilege
        FROM pg_class c, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p(privilege)
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND has_table_privilege(%s, c.oid, p.privilege)
        UNION ALL
        SELECT c.relname, a.attname, p.privilege
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
             unnest(ARRAY['SELECT', 'INSERT', 'UPDATE']) p(privilege)
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND has_column_privilege(%s, c.oid, a.attnum, p.privilege)
          AND NOT has_table_privilege(%s, c.oid, p.privilege)
        """,
        [role] * 3,
    )
    return set(cursor.fetchall())


def _expected() -> Snapshot:
    expected: Snapshot = set()
    for table in mapping.tables():
        expected.add((table.name, None, "DELETE"))
        for privilege in grants.COLUMN_PRIVILEGES:
            if len(table.better_auth_columns) == len(table.columns):
                expected.add((table.name, None, privilege))
            else:
                expected |= {(table.name, c.name, privilege) for c in table.better_auth_columns}
    return expected


@pytest.mark.django_db
def test_auth_role_has_exactly_better_auths_tables_and_columns():
    role = grants.auth_role()
    assert role is not None
    with connection.cursor() as cursor:
        assert _snapshot(cursor, role) == _expected()
        cursor.execute(
            "SELECT has_schema_privilege(%s, current_schema(), 'USAGE'), "
            "has_sequence_privilege(%s, 'beep_row_id_seq', 'USAGE')",
            [role, role],
        )
        assert cursor.fetchone() == (True, True)
    user_columns = {c for t, c, p in _expected() if t == "user" and p == "UPDATE"}
    assert user_columns and not user_columns & set(DJANGO_ONLY)


@pytest.mark.django_db
def test_grants_command_prints_what_the_migrations_grant():
    """Revoke the role's privileges, run the command's SQL: the same privileges as the
    migrations gave it (the owner's transaction is rolled back)."""
    role = grants.auth_role()
    assert role is not None
    out = StringIO()
    call_command("better_auth_grants", stdout=out, stderr=StringIO())
    statements = [s for s in out.getvalue().split(";\n") if s.strip()]
    assert statements[0].startswith(f'CREATE ROLE "{role}" LOGIN')
    with owner_cursor() as cursor:
        migrated = _snapshot(cursor, role)
        for sql in grants.revoke_statements(role, "public", mapping.table_names(), _qn):
            cursor.execute(sql)
        assert _snapshot(cursor, role) == set()
        for sql in statements[1:]:
            cursor.execute(sql)
        assert _snapshot(cursor, role) == migrated == _expected()


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


@pytest.mark.django_db
def test_column_limit_migration_reverses_to_the_whole_tables():
    role = grants.auth_role()
    assert role is not None
    operation = grants.LimitBetterAuthColumns(grants.column_limits())
    with owner_cursor() as cursor:
        for sql in operation.revokes(role, "public", _qn):
            cursor.execute(sql)
        after_reverse = _snapshot(cursor, role)
        assert ("user", None, "UPDATE") in after_reverse
        assert not any(column for _, column, _ in after_reverse)
        for sql in operation.grants(role, "public", _qn):
            cursor.execute(sql)
        assert _snapshot(cursor, role) == _expected()


def test_grants_command_uses_column_grants_for_the_user_table():
    out, err = StringIO(), StringIO()
    call_command("better_auth_grants", "--role", "auth_srv", stdout=out, stderr=err)
    sql = out.getvalue()
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "account", ' in sql
    assert '"wallet_address" TO "auth_srv";' in sql
    user_grant = next(line for line in sql.splitlines() if 'ON TABLE "user"' in line)
    assert user_grant.startswith('GRANT SELECT ("id", ')
    assert ', DELETE ON TABLE "user" TO "auth_srv";' in user_grant
    assert not any(f'"{column}"' in user_grant for column in DJANGO_ONLY)
    assert "BETTER_AUTH_ROLE'] = 'auth_srv'" in err.getvalue()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--role", 'a"b'),
        ("--role", "bad role"),
        ("--role", "pg_evil"),
        ("--role", ""),
        ("--role", "auth\n"),
        ("--schema", 'x"y'),
        ("--schema", ""),
    ],
)
def test_grants_command_refuses_names_it_cannot_write_into_sql(flag, value):
    # The output goes into a superuser's psql: a quote in a name ended the identifier
    # (Django's quote_name doubles none), an empty role fell back to the default.
    out = StringIO()
    with pytest.raises(CommandError, match=f"{flag} must be a name"):
        call_command("better_auth_grants", flag, value, stdout=out, stderr=StringIO())
    assert out.getvalue() == ""


# The role setting (issue: a role was granted by its name alone).


def test_role_setting_defaults_to_none_and_is_validated():
    assert load({}).better_auth_role is None
    assert load({"BETTER_AUTH_ROLE": "auth_srv"}).better_auth_role == "auth_srv"
    for bad in ["", "pg_auth", "a" * 64, "x; DROP TABLE user", 7, "1abc", "auth\n"]:
        with pytest.raises(ImproperlyConfigured, match=r"BEEP_IAM\['BETTER_AUTH_ROLE'\]"):
            load({"BETTER_AUTH_ROLE": bad})


def test_check_reports_a_bad_role_and_the_former_setting(settings):
    settings.BEEP_IAM = {"BETTER_AUTH_ROLE": "pg_x"}
    assert [m.id for m in check_settings()] == ["beep_iam.E001"]
    settings.BEEP_IAM = {"BETTER_AUTH_ROLE": "beep_auth"}
    settings.BEEP_BETTER_AUTH_ROLE = "beep_auth"
    messages = check_settings()
    assert [m.id for m in messages] == ["beep_iam.E002"]
    assert "BEEP_IAM['BETTER_AUTH_ROLE']" in messages[0].msg


def test_host_project_grants_nothing_to_a_role_merely_named_beep_auth(
    tmp_path,
    host_database,  # noqa: F811
):
    """A host project that never configured better-auth, on a server where a role named
    beep_auth exists (the embedded server's, or the README's): its migrate grants it nothing."""
    db, name = host_database
    start_project(tmp_path, HOST_DATABASES, block("host-project-settings"))
    result = run_django(tmp_path, db, name, "migrate", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr

    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=name,
    ) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [grants.DEFAULT_ROLE])
        assert cursor.fetchone() == (1,), "the server has no beep_auth role to test with"
        assert "user" in {
            t for (t,) in cursor.execute("SELECT tablename FROM pg_tables").fetchall()
        }
        assert _snapshot(cursor, grants.DEFAULT_ROLE) == set()
        cursor.execute(
            "SELECT has_schema_privilege(%s, 'public', 'USAGE'), "
            "has_sequence_privilege(%s, 'beep_row_id_seq', 'USAGE')",
            [grants.DEFAULT_ROLE] * 2,
        )
        # USAGE on public is PUBLIC's; the sequence is the package's own.
        row = cursor.fetchone()
        assert row is not None and row[1] is False


@pytest.mark.django_db
def test_check_warns_of_a_beep_auth_role_granted_without_the_setting(settings):
    """Databases migrated before the setting existed: the role keeps what it was granted."""
    assert grants.check_unnamed_role_privileges(None, databases=["default"]) == []
    settings.BEEP_IAM = {}
    messages = grants.check_unnamed_role_privileges(None, databases=["default"])
    assert [m.id for m in messages] == ["beep_iam.W030"]
    assert "BETTER_AUTH_ROLE'] = 'beep_auth'" in (messages[0].hint or "")


@pytest.mark.django_db
@pytest.mark.embedded  # creates a role: the embedded server's superuser does it
def test_check_warns_of_a_named_role_the_migrations_granted_nothing(settings):
    # Walkthrough (session 11): a role named after the first migrate got nothing, silently.
    from tests.rls.test_rls_status import superuser_connection

    assert grants.check_named_role_privileges(None, databases=["default"]) == []  # beep_auth
    settings.BEEP_IAM = {**settings.BEEP_IAM, "BETTER_AUTH_ROLE": "beep_test_ungranted"}
    with superuser_connection() as su:
        su.execute("CREATE ROLE beep_test_ungranted NOLOGIN")
        try:
            messages = grants.check_named_role_privileges(None, databases=["default"])
        finally:
            su.execute("DROP ROLE beep_test_ungranted")
    assert [m.id for m in messages] == ["beep_iam.W031"]
    assert "'beep_test_ungranted'" in messages[0].msg
    assert "better_auth_grants" in (messages[0].hint or "")
