"""The generated better-auth mapping: current, true to the database, complete for both lines."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from beep_iam.better_auth import drizzle, grants, mapping
from beep_iam.management.commands.generate_better_auth import default_output
from beep_iam.models import TeamMember
from beep_shared.models import Team, User

from .checks import loads
from .conftest import LINES, server_env
from .node import BetterAuth, BetterAuthError
from .test_accounts import sign_up
from .test_organizations import create_organization


def test_committed_module_is_what_the_models_generate():
    call_command("generate_better_auth", "--check")  # raises CommandError when stale


def test_check_fails_once_the_models_and_the_module_differ(tmp_path):
    call_command("generate_better_auth", "--output", str(tmp_path))
    module = tmp_path / drizzle.MODULE
    module.write_text(module.read_text().replace('  alg: text("alg"),\n', ""))
    with pytest.raises(CommandError, match="out of date with the models"):
        call_command("generate_better_auth", "--output", str(tmp_path), "--check")


def test_missing_files_and_bad_folders_are_said_so(tmp_path, settings):
    with pytest.raises(CommandError, match="missing in"):
        call_command("generate_better_auth", "--output", str(tmp_path), "--check")
    with pytest.raises(CommandError, match="--output must name a folder"):
        call_command("generate_better_auth", "--output", " ")
    # A host project (no such folder under BASE_DIR, or no BASE_DIR) names its own.
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match="--output FOLDER"):
        call_command("generate_better_auth")
    del settings.BASE_DIR
    with pytest.raises(CommandError, match="--output FOLDER"):
        call_command("generate_better_auth", "--check")
    assert not any(tmp_path.iterdir())


@pytest.mark.django_db
def test_mapping_matches_the_database():
    """Every mapped column exists with the same type, nullability and default-ness."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   a.atthasdef
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
              AND a.attnum > 0 AND NOT a.attisdropped
            """
        )
        database = {(t, col): (typ, notnull, hasdef) for t, col, typ, notnull, hasdef in cursor}
    generated = {
        (table.name, column.name): (
            column.sql_type,
            column.not_null or column.primary_key,
            column.default_sql is not None,
        )
        for table in mapping.tables()
        for column in table.columns
    }
    mapped_tables = {table for table, _ in generated}
    in_database = {key: value for key, value in database.items() if key[0] in mapped_tables}
    assert generated == in_database


@pytest.mark.parametrize("line", LINES)
def test_mapping_has_every_model_and_field_better_auth_uses(
    line, django_db_setup, interop_packages
):
    server = BetterAuth(line, server_env())
    try:
        used = server.call("tables")
    finally:
        server.close()
    mapped = {
        table.model_key: {c.key for c in table.better_auth_columns} for table in mapping.tables()
    }
    missing = {
        model: sorted(set(fields) - mapped.get(model, set()))
        for model, fields in used.items()
        if set(fields) - mapped.get(model, set())
    }
    assert missing == {}
    assert {"oauthClient", "oauthAccessToken", "teamMember", "jwks"} <= set(used)
    if line == "1.7":
        assert {"oauthResource", "oauthClientResource", "oauthClientAssertion"} <= set(used)
        # oauthDeviceAuthorization()'s columns on the device-authorization plugin's table.
        assert {"resources", "oauthClientId"} <= set(used["deviceCode"])


def test_better_auth_17_refuses_a_schema_missing_a_table(django_db_setup, interop_packages):
    with pytest.raises(BetterAuthError, match=r"(?s)schema mismatch.*jwks"):
        BetterAuth("1.7", {**server_env(), "BEEP_OMIT_MODEL": "jwks"})


@pytest.mark.django_db(transaction=True)
def test_better_auth_17_runs_on_the_schema_the_database_describes(interop_packages):
    """A Drizzle schema read from information_schema as the better-auth role (NOT NULL and
    defaults as the database has them; interop/better-auth/introspected.mjs): 1.7's schema
    check accepts it, and the rows whose NOT NULL columns better-auth never writes (a team's
    slug, a team member's organization) are completed by the database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_nullable = 'NO' AND "
            "(table_name, column_name) IN (('team', 'slug'), ('team_member', 'organization_id'))"
        )
        assert {(t, c): d for t, c, d in cursor} == {
            ("team", "slug"): "''::character varying",
            ("team_member", "organization_id"): "''::text",
        }
    server = BetterAuth("1.7", {**server_env(), "BEEP_SCHEMA_FROM_DATABASE": "1"})
    try:
        assert set(server.call("tables")) >= {"user", "team", "teamMember", "oauthClient"}
        owner, owner_body = sign_up(server, "owner@example.com", "Owner")
        _, member_body = sign_up(server, "member@example.com", "Member")
        org = create_organization(owner)
        server.api(
            "addMember",
            body={"userId": member_body["id"], "role": "member", "organizationId": org["id"]},
        )
        team_body = owner.post(
            "/api/auth/organization/create-team",
            json={"name": "Core", "organizationId": org["id"]},
        )
        assert team_body.status == 200, team_body.body
        added = owner.post(
            "/api/auth/organization/add-team-member",
            json={"teamId": team_body.body["id"], "userId": member_body["id"]},
        )
        assert added.status == 200, added.body
    finally:
        server.close()
    team = loads(Team, team_body.body["id"], tenant=org["id"])
    assert team.slug == f"core-{team.pk[-8:]}"
    team_member = loads(TeamMember, added.body["id"], tenant=org["id"])
    assert team_member.organization_id == org["id"]
    assert loads(User, owner_body["id"]).password == "!"  # Django's own column: its default


@pytest.mark.django_db
def test_auth_role_is_a_bypassrls_login_of_no_role():
    role = grants.auth_role()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole FROM pg_roles "
            "WHERE rolname = %s",
            [role],
        )
        assert cursor.fetchone() == (False, True, True, False)
        cursor.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.rolname = %s "
            "WHERE m.member = r.oid OR m.roleid = r.oid",
            [role],
        )
        assert cursor.fetchone() == (0,), "beep_auth is a member of a role, or has members"
    # Its tables and columns: tests/better_auth/test_role_grants.py.


def test_default_output_is_the_interop_folder():
    assert default_output().name == "generated"
