"""The system check and ``manage.py rls_status``."""

from __future__ import annotations

from contextlib import contextmanager
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from beep_shared.rls.checks import (
    bypass_warnings,
    check_row_level_security,
    configuration_errors,
    role_warnings,
)
from beep_shared.rls.registry import tenant_models
from tests.owner import OWNER_ALIAS, owner_commit, owner_cursor

pytestmark = pytest.mark.django_db


def check_ids() -> list[str]:
    return [m.id for m in check_row_level_security(None, databases=["default"])]


def test_the_check_is_quiet_for_the_application_role():
    assert check_ids() == []


@pytest.mark.django_db(transaction=True)
def test_the_role_rules_are_the_request_serving_aliass_only():
    # `migrate` checks the alias it runs on: the tables' owner may create temporary tables
    # (README "Your own server" leaves TEMPORARY to it), and it serves no request.
    db = connections[OWNER_ALIAS].settings_dict
    grant = f'TEMPORARY ON DATABASE "{db["NAME"]}"'
    with owner_commit() as owner:
        owner.execute(f'GRANT {grant} TO "{db["USER"]}"')
    try:
        assert role_warnings(connections[OWNER_ALIAS]), "the owner's role would warn"
        owner_ids = {m.id for m in check_row_level_security(None, databases=[OWNER_ALIAS])}
        assert not {"beep_shared.W010", "beep_shared.W012", "beep_shared.W015"} & owner_ids
    finally:
        with owner_commit() as owner:
            owner.execute(f'REVOKE {grant} FROM "{db["USER"]}"')


def test_the_check_warns_when_the_connection_bypasses_rls():
    messages = role_warnings(connections["bypass"])
    assert [m.id for m in messages] == ["beep_shared.W010"]
    assert "tenant isolation is silently off" in messages[0].msg


@contextmanager
def superuser_connection():
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        yield conn


@pytest.mark.embedded  # creates roles: the embedded server's superuser does it
def test_the_check_warns_when_the_role_can_reach_a_bypassrls_role():
    app_role = connection.settings_dict["USER"]
    with superuser_connection() as su:
        su.execute("CREATE ROLE beep_test_reachable NOLOGIN BYPASSRLS")
        su.execute("CREATE ROLE beep_test_group NOLOGIN")
        su.execute("GRANT beep_test_reachable TO beep_test_group")
        su.execute(f'GRANT beep_test_group TO "{app_role}"')  # reachable through two hops
        try:
            messages = check_row_level_security(None, databases=["default"])
        finally:
            su.execute("DROP ROLE beep_test_group")
            su.execute("DROP ROLE beep_test_reachable")
    (message,) = messages
    assert message.id == "beep_shared.W012"
    assert "can SET ROLE to 'beep_test_reachable' (BYPASSRLS)" in message.msg


def test_the_check_warns_when_the_bypass_alias_cannot_bypass(settings):
    settings.BEEP_SHARED = {"RLS_BYPASS_DATABASE": "default"}  # the app's role: no BYPASSRLS
    (message,) = bypass_warnings()
    assert message.id == "beep_shared.W011" and "lacks the BYPASSRLS attribute" in message.msg


def test_the_check_warns_when_the_bypass_role_lacks_table_privileges():
    role = connections["bypass"].settings_dict["USER"]
    # Only the tables' owner may revoke; committed so the check sees it, so granted back after.
    with owner_commit() as owner:
        owner.execute(f'REVOKE DELETE ON team FROM "{role}"')
        try:
            (message,) = check_row_level_security(None, databases=["default"])
        finally:
            owner.execute(f'GRANT DELETE ON team TO "{role}"')
    assert message.id == "beep_shared.W014" and "lacks privileges on team;" in message.msg


def test_the_retired_bypass_role_setting_is_an_error(settings):
    settings.BEEP_RLS_BYPASS_ROLE = "beep_bypass"
    (error,) = configuration_errors()
    assert error.id == "beep_shared.E011" and "no longer supported" in error.msg
    assert "DATABASES['bypass']" in str(error.hint)


def test_a_bypass_alias_without_the_router_is_an_error(settings):
    settings.DATABASE_ROUTERS = []
    (error,) = configuration_errors()
    assert error.id == "beep_shared.E012"


def test_rls_status_lists_every_tenant_model_table_and_passes():
    out = StringIO()
    call_command("rls_status", stdout=out)
    lines = out.getvalue().splitlines()
    tables = {model._meta.db_table for model in tenant_models()}
    listed = {line.split()[0] for line in lines[1:-1]}
    assert listed == tables
    apikey = next(line for line in lines if line.startswith("apikey "))
    assert apikey.split()[2:5] == ["nullable", "on", "on"] and apikey.endswith("ok")
    assert lines[-1] == f"{len(tables)} TenantModel tables match their models."


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("ALTER TABLE team NO FORCE ROW LEVEL SECURITY", "FORCE off"),
        ("ALTER TABLE member DISABLE ROW LEVEL SECURITY", "row level security disabled"),
        ("DROP POLICY tenant_isolation_invitation ON invitation", "missing"),
        (
            "ALTER POLICY tenant_isolation_subscription ON subscription USING (true)",
            "differs from the standard policy",
        ),
        ("CREATE POLICY open ON apikey USING (true)", "extra permissive policy open"),
        ("ALTER TABLE sso_provider ALTER organization_id SET NOT NULL", "wants NULL"),
    ],
)
@pytest.mark.django_db(databases=["default", OWNER_ALIAS])
def test_rls_status_fails_on_drift(sql, problem):
    out = StringIO()
    with owner_cursor() as cursor:  # only the tables' owner may alter them; rolled back
        cursor.execute(sql)
        with pytest.raises(
            CommandError, match=f"1 of {len(tenant_models())} TenantModel tables drift"
        ):
            call_command("rls_status", database=OWNER_ALIAS, stdout=out)
    assert problem in out.getvalue()
