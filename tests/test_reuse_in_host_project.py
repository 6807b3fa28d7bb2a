"""The apps can be added to another project's INSTALLED_APPS and migrated from zero."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.conf import settings

from tests.owner import owner_credentials

ROOT = Path(__file__).resolve().parent.parent

HOST_SETTINGS = """
import os

SECRET_KEY = "host-project-test-key"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "pgtrigger",
    "beep_shared",
    "beep_iam",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
AUTH_USER_MODEL = "beep_shared.User"
AUTHENTICATION_BACKENDS = ["beep_shared.backends.UserBackend"]
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["HOST_DB_NAME"],
        "USER": os.environ["HOST_DB_USER"],
        "PASSWORD": os.environ.get("HOST_DB_PASSWORD", ""),
        "HOST": os.environ["HOST_DB_HOST"],
        "PORT": os.environ["HOST_DB_PORT"],
    }
}
"""


def _connect(db, name):
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=name,
        autocommit=True,
    )


@pytest.fixture
def host_database():
    # Creating a database and migrating it is the owner role's job where roles are split.
    db = {**settings.DATABASES["default"], **(owner_credentials() or {})}
    name = f"beep_host_{uuid.uuid4().hex[:10]}"
    with _connect(db, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db, name
    finally:
        with _connect(db, "postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_django(tmp_path, db, name, *args):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="hostproj.settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
        HOST_DB_NAME=name,
        HOST_DB_USER=db["USER"],
        HOST_DB_PASSWORD=db.get("PASSWORD") or "",
        HOST_DB_HOST=db["HOST"],
        HOST_DB_PORT=str(db["PORT"] or 5432),
    )
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_host_project_migrates_from_zero_and_back(tmp_path, host_database):
    db, name = host_database
    package = tmp_path / "hostproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(textwrap.dedent(HOST_SETTINGS))

    result = run_django(tmp_path, db, name, "migrate", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr

    expected = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in {"beep_shared", "beep_iam"}
    }
    with _connect(db, name) as conn:
        present = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert expected <= present, expected - present

    result = run_django(tmp_path, db, name, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr

    result = run_django(tmp_path, db, name, "migrate", "beep_shared", "zero", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    with _connect(db, name) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
            [sorted(expected)],
        ).fetchone()
    assert left == (0,)
