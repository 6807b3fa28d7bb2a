"""A new Django project (``startproject``) on a database of its own, for the tests that use
the apps as another project would."""

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection

from tests.owner import owner_credentials

# The host's own database settings, before the README's block (startproject's are SQLite).
HOST_DATABASES = """
import os as _os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _os.environ["HOST_DB_NAME"],
        "USER": _os.environ["HOST_DB_USER"],
        "PASSWORD": _os.environ.get("HOST_DB_PASSWORD", ""),
        "HOST": _os.environ["HOST_DB_HOST"],
        "PORT": _os.environ["HOST_DB_PORT"],
    }
}
"""


def connect(db, name):
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=name,
        autocommit=True,
    )


@contextmanager
def new_database():
    """A new, empty database on the test run's server, dropped at the end, and the settings
    (the owner's login where roles are split) to create and migrate it with.

    Call it inside a test with database access: the embedded server's host and port are
    known once the test database's connection is made."""
    connection.ensure_connection()
    db = {**connection.settings_dict, **(owner_credentials() or {})}
    name = f"beep_host_{uuid.uuid4().hex[:10]}"
    with connect(db, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db, name
    finally:
        drop_database(db, name)


def drop_database(db, name, patience=15.0):
    """DROP DATABASE, waiting out a backend of another role still on it.

    A host command has exited, but the server's backend of its bypass login may not have seen
    the closed socket yet; FORCE cannot end another role's backend for an owner that is not a
    superuser (the split-roles cell), so wait until it is gone."""
    deadline = time.monotonic() + patience
    with connect(db, "postgres") as conn:
        while True:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def start_project(tmp_path, *settings_parts, python=sys.executable):
    """``django-admin startproject hostproj`` in ``tmp_path``, ``settings_parts`` appended to
    its settings."""
    made = subprocess.run(
        [python, "-m", "django", "startproject", "hostproj", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    host_settings = tmp_path / "hostproj" / "settings.py"
    host_settings.write_text("\n".join([host_settings.read_text(), *settings_parts]))


def host_env(db, name):
    """The environment of the host project's commands: its database, no DATABASE_URLs."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="hostproj.settings",
        HOST_DB_NAME=name,
        HOST_DB_USER=db["USER"],
        HOST_DB_PASSWORD=db.get("PASSWORD") or "",
        HOST_DB_HOST=db["HOST"],
        HOST_DB_PORT=str(db["PORT"] or 5432),
        BEEP_BYPASS_PASSWORD=settings.DATABASES["bypass"].get("PASSWORD") or "",
    )
    return env
