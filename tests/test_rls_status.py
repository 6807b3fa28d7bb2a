"""The system check and ``manage.py rls_status``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from beep_shared.rls import bypass_rls
from beep_shared.rls.checks import check_row_level_security
from beep_shared.rls.status import org_models
from tests.owner import OWNER_ALIAS, owner_commit, owner_cursor

pytestmark = pytest.mark.django_db


def check_ids() -> list[str]:
    return [m.id for m in check_row_level_security(None, databases=["default"])]


def test_the_check_is_quiet_for_the_application_role():
    assert check_ids() == []


def test_the_check_warns_when_the_connection_bypasses_rls():
    with bypass_rls():  # the transaction now runs as a BYPASSRLS role
        messages = check_row_level_security(None, databases=["default"])
    assert [m.id for m in messages] == ["beep_shared.W010"]
    assert "tenant isolation is silently off" in messages[0].msg


@pytest.mark.parametrize(
    ("role", "problem"),
    [("no_such_role", "does not exist"), (None, "lacks the BYPASSRLS attribute")],
)
def test_the_check_warns_about_an_unusable_bypass_role(settings, role, problem):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        app_role = cursor.fetchone()[0]  # whatever DATABASE_URL names
    settings.BEEP_RLS_BYPASS_ROLE = role or app_role
    (message,) = check_row_level_security(None, databases=["default"])
    assert message.id == "beep_shared.W011" and problem in message.msg


@pytest.mark.django_db(databases=["default", OWNER_ALIAS])
def test_the_check_warns_when_the_bypass_role_lacks_table_privileges(settings):
    role = settings.BEEP_RLS_BYPASS_ROLE
    # Only the tables' owner may revoke; committed so the check sees it, so granted back after.
    with owner_commit() as owner:
        owner.execute(f"REVOKE DELETE ON team FROM {role}")
        try:
            (message,) = check_row_level_security(None, databases=["default"])
        finally:
            owner.execute(f"GRANT DELETE ON team TO {role}")
    assert message.id == "beep_shared.W011" and "lacks privileges on team;" in message.msg


def test_rls_status_lists_every_org_model_table_and_passes():
    out = StringIO()
    call_command("rls_status", stdout=out)
    lines = out.getvalue().splitlines()
    tables = {model._meta.db_table for model in org_models()}
    listed = {line.split()[0] for line in lines[1:-1]}
    assert listed == tables
    apikey = next(line for line in lines if line.startswith("apikey "))
    assert apikey.split()[2:5] == ["nullable", "on", "on"] and apikey.endswith("ok")
    assert lines[-1] == f"{len(tables)} OrgModel tables match their models."


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
        with pytest.raises(CommandError, match=f"1 of {len(org_models())} OrgModel tables drift"):
            call_command("rls_status", database=OWNER_ALIAS, stdout=out)
    assert problem in out.getvalue()
