"""No test command touches a developer's database.

A run of the browser tests alone used to create no test database, and their closing flush
emptied the real one. Here a checkout of its own (an embedded server in a temporary folder,
migrated and seeded like a developer's) runs the browser tests by marker, then by test id;
every seeded row is still there after each run. The guard itself (tests/guard.py) is tested
in-process.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from beep_embedded import server as embedded_server
from tests import guard
from tests.browser.conftest import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]

SEED = """
from beep_shared.models import Organization, User
User.objects.create_superuser("seeded-admin@example.com", "seeded-password", name="Seeded")
Organization.objects.create(name="Seeded organization", slug="seeded-organization")
"""
COUNT = """
from beep_shared.models import Organization, User
print(User.objects.filter(email="seeded-admin@example.com").count(),
      Organization.objects.filter(slug="seeded-organization").count())
"""


def run(args, pgdata):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "BYPASS_DATABASE_URL")
        and not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))
    }
    env.update(BEEP_PGDATA=str(pgdata), DEBUG="1", SECRET_KEY="guard-test-key")
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


# One checkout for both selections: its rows must survive the first run and the second.
@pytest.fixture(scope="module")
def seeded_checkout(tmp_path_factory):
    pgdata = tmp_path_factory.mktemp("guard") / "pgdata"
    try:
        for step in (["migrate", "--noinput"], ["shell", "-c", SEED]):
            result = run([sys.executable, "manage.py", *step], pgdata)
            assert result.returncode == 0, result.stderr
        yield pgdata
    finally:
        embedded_server.stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.mark.embedded
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}")
@pytest.mark.parametrize(
    "selection",
    [
        ["-m", "browser", "-k", "test_login_form_rejects_a_wrong_password"],
        ["tests/browser/test_admin_browse.py::test_search_box_finds_the_matching_rows_only"],
    ],
    ids=["marker", "test-id"],
)
def test_browser_tests_leave_the_real_database_alone(seeded_checkout, selection):
    tests = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *selection],
        seeded_checkout,
    )
    server_log = (seeded_checkout / "log").read_text(errors="replace")[-3000:]
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:] + server_log
    assert " 1 passed" in tests.stdout
    counted = run([sys.executable, "manage.py", "shell", "-c", COUNT], seeded_checkout)
    assert counted.stdout.splitlines()[-1].split() == ["1", "1"], counted.stdout + counted.stderr


@pytest.mark.django_db
def test_no_connection_or_flush_on_a_database_outside_the_run():
    default = connections["default"]
    assert default.settings_dict["NAME"] in guard.TEST_DATABASES
    elsewhere = default.copy(alias="elsewhere")
    elsewhere.settings_dict["NAME"] = "beep"
    with pytest.raises(guard.NotATestDatabase, match="'beep'"):
        elsewhere.ensure_connection()
    with pytest.raises(guard.NotATestDatabase, match="flush"):
        elsewhere.ops.execute_sql_flush(['TRUNCATE "user"'])
    elsewhere.close()


@pytest.mark.django_db(transaction=True)
def test_flush_of_the_test_database_still_works():
    from beep_shared.models import Organization

    Organization.objects.create(name="To flush", slug="to-flush")
    call_command("flush", interactive=False, verbosity=0)
    assert not Organization.objects.exists()
