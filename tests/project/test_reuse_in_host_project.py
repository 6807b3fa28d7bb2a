"""A project made by ``django-admin startproject`` plus exactly the README's "Using the apps in
another project" block: migrates from zero and back, and its admin works (a superuser browses
every organization, "Work here", adds a team: a write to a tenant table)."""

import os
import subprocess
import sys

import pytest
from django.apps import apps

from tests.host_project import HOST_DATABASES, connect, host_env, new_database, start_project
from tests.readme import ROOT, block

# Only what the README said before it listed the middleware, the bypass alias and the filter.
APPS_ONLY = """
INSTALLED_APPS += ["django.contrib.postgres", "pgtrigger", "beep_shared", "beep_iam"]
AUTH_USER_MODEL = "beep_shared.User"
"""

USE_THE_ADMIN = """
import re
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
from beep_shared.models import Organization, Team, User
from beep_shared.rls import bypass_rls

setup_test_environment()  # the test client's host name
admin = User.objects.create_superuser("root@example.com", "a-long-password-1", name="Root")
with bypass_rls():
    acme = Organization.objects.create(name="Acme Host", slug="acme-host")
    Organization.objects.create(name="Other Host", slug="other-host")
client = Client(enforce_csrf_checks=True)
client.force_login(admin)

page = client.get("/admin/beep_shared/organization/")
assert page.status_code == 200, page.status_code
html = page.content.decode()
assert "Acme Host" in html and "Other Host" in html, "the superuser sees every organization"
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

work = client.post(
    f"/admin/beep_shared/organization/{acme.pk}/activate/", {"csrfmiddlewaretoken": token}
)
assert work.status_code == 302, work.status_code
assert "Organization: Acme Host" in client.get("/admin/beep_shared/team/").content.decode()

form = client.get("/admin/beep_shared/team/add/")
assert form.status_code == 200, form.status_code
added = client.post(
    "/admin/beep_shared/team/add/",
    {"csrfmiddlewaretoken": token, "organization": acme.pk, "name": "Blue Team",
     "slug": "blue-team", "member_count": "0"},
)
assert added.status_code == 302, re.findall(r'errorlist.*?</ul>', added.content.decode(), re.S)
with bypass_rls():
    team = Team.objects.get(name="Blue Team")
assert team.organization_id == acme.pk, team.organization_id
print("admin ok")
"""


def run_django(tmp_path, db, name, *args, script=None):
    env = host_env(db, name)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    command = ["-c", script] if script else ["-m", "django", *args]
    return subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def host_database(db):
    with new_database() as made:
        yield made


def test_the_readme_block_gives_a_host_project_a_working_admin(tmp_path, host_database):
    db, name = host_database
    start_project(tmp_path, HOST_DATABASES, block("host-project-settings"))

    result = run_django(tmp_path, db, name, "migrate", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in {"beep_shared", "beep_iam"}
    }
    with connect(db, name) as conn:
        present = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert expected <= present, expected - present

    checked = run_django(tmp_path, db, name, "check", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = run_django(tmp_path, db, name, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr

    result = run_django(tmp_path, db, name, "migrate", "beep_shared", "zero", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    with connect(db, name) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
            [sorted(expected)],
        ).fetchone()
    assert left == (0,)

    again = run_django(tmp_path, db, name, "migrate", "--noinput")
    assert again.returncode == 0, again.stdout + again.stderr

    used = run_django(tmp_path, db, name, script=USE_THE_ADMIN)
    assert used.returncode == 0, used.stdout + used.stderr
    assert "admin ok" in used.stdout


def test_check_names_what_a_host_project_lacks(tmp_path, host_database):
    db, name = host_database
    start_project(tmp_path, HOST_DATABASES, APPS_ONLY)
    checked = run_django(tmp_path, db, name, "check")
    assert checked.returncode != 0
    said = checked.stdout + checked.stderr
    assert (
        "(beep_shared.E003) MIDDLEWARE lacks 'beep_shared.rls.middleware.TenantMiddleware'" in said
    )
    assert "(beep_shared.W003) DATABASES has no bypass alias" in said
    assert "(beep_shared.W004) DEFAULT_EXCEPTION_REPORTER_FILTER is not" in said
