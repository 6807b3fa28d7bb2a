"""beep_shared is a lower layer: with ``beep_iam`` left out of INSTALLED_APPS
(config.settings_shared_only) it checks, migrates a new database and serves its admin."""

import os
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings

from tests.host_project import connect, new_database
from tests.readme import ROOT

SETTINGS = "config.settings_shared_only"
# beep_shared's own tests: they import nothing of beep_iam (tests.factories leaves its
# factories out when it is not installed).
SHARED_TESTS = [
    "tests/shared/test_shared_models.py",
    "tests/shared/test_user_email.py",
    "tests/shared/test_table_base.py",
    "tests/shared/test_entity_ids.py",
    "tests/rls/test_rls_context.py",
    "tests/rls/test_rls_migrations.py",
    "tests/admin/test_admin_pages.py",
]

USE_THE_ADMIN = """
import re
import django
django.setup()
from django.apps import apps
from django.contrib.admin.utils import quote
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse
from beep_shared.models import Organization, Session, Team, User
from beep_shared.rls import bypass_rls

assert not apps.is_installed("beep_iam")
setup_test_environment()  # the test client's host name
root = User.objects.create_superuser("root@example.com", "a-long-password-1", name="Root")
with bypass_rls():
    acme = Organization.objects.create(name="Acme Alone", slug="acme-alone", owner_user=root)
    team = Team.objects.create(organization=acme, name="Red Team", slug="red-team")
session, _ = Session.objects.create_session(root)
client = Client()
client.force_login(root)


def page(name, *args):
    url = reverse(f"admin:beep_shared_{name}", args=[quote(arg) for arg in args])
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def links(html):
    block = re.search(r'<ul class="beep-related">(.*?)</ul>', html, re.S)
    return re.findall(r'<a href="[^"]+">([^<]+)</a>', block.group(1)) if block else []


assert "root@example.com" in page("user_changelist")
print("user", links(page("user_change", root.pk)))
assert "Acme Alone" in page("organization_changelist")
print("organization", links(page("organization_change", acme.pk)))
assert "Red Team" in page("team_changelist")
print("team", links(page("team_change", team.pk)))
assert "root@example.com" in page("session_change", session.pk)
print("admin ok")
"""


def database_url(db, name, user=None, password=None):
    user = quote(user or db["USER"], safe="")
    password = quote(password if password is not None else db.get("PASSWORD") or "", safe="")
    host = quote(db["HOST"], safe="")  # the embedded server's is a socket directory
    return f"postgres://{user}:{password}@{host}:{db['PORT'] or 5432}/{name}"


@pytest.fixture
def shared_only(db):
    """Run ``manage.py`` or a script under config.settings_shared_only on a new database."""
    with new_database() as (server, name):
        bypass = settings.DATABASES["bypass"]
        env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            DEBUG="1",
            DATABASE_URL=database_url(server, name),
            BYPASS_DATABASE_URL=database_url(server, name, bypass["USER"], bypass["PASSWORD"]),
        )

        def run(*args, script=None):
            command = ["-c", script] if script else [str(ROOT / "manage.py"), *args]
            result = subprocess.run(
                [sys.executable, *command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        yield run, server, name


def test_beep_shared_checks_migrates_and_serves_its_admin_without_beep_iam(shared_only):
    run, server, name = shared_only
    run("check", "--fail-level", "WARNING")
    run("makemigrations", "--check", "--dry-run")
    run("migrate", "--noinput")
    with connect(server, name) as conn:
        applied = {
            row[0] for row in conn.execute("SELECT DISTINCT app FROM django_migrations").fetchall()
        }
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert "beep_shared" in applied and "beep_iam" not in applied
    assert {"user", "organization", "team", "session"} <= tables
    assert not tables & {"member", "account", "oauth_client", "apikey"}

    out = run(script=USE_THE_ADMIN)
    assert "admin ok" in out
    # Only beep_shared's own links: nothing of beep_iam's registered, nothing broken.
    assert "user ['Sessions', 'Owned organizations']" in out
    assert "organization ['Teams']" in out
    assert "team []" in out


def test_beep_shared_tests_pass_without_beep_iam():
    """The shared tests under config.test_settings_shared_only, on a test database of their
    own (test_beep_shared_only) on this run's server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "--ds",
            "config.test_settings_shared_only",
            *SHARED_TESTS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary
