"""Bad configuration gives one clear sentence, not a traceback from deep inside."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env_overrides, unset=()):
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if "DATABASE_URL" in env_overrides:  # manage.py migrate would use this one instead
        env.pop("MIGRATION_DATABASE_URL", None)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean_failure(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_missing_secret_key_without_debug_is_improperly_configured():
    result = manage("check", env_overrides={"DEBUG": "0"}, unset=("SECRET_KEY",))
    assert_clean_failure(result, "SECRET_KEY is not set")


def test_missing_secret_key_with_debug_uses_the_development_key():
    # DATABASE_URL as the suite has it: unset means the embedded server already running.
    result = manage("check", env_overrides={"DEBUG": "1"}, unset=("SECRET_KEY",))
    assert result.returncode == 0, result.stderr


def test_unparseable_debug_flag_is_rejected():
    result = manage("check", env_overrides={"DEBUG": "maybe", "SECRET_KEY": "k"})
    assert_clean_failure(result, "DEBUG='maybe' is not a boolean")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://user:pw@localhost/db", "must be a PostgreSQL URL"),
        ("not a url", "must be a PostgreSQL URL"),
        ("postgres://user:pw@localhost:5432", "names no database"),
    ],
)
def test_malformed_database_url_is_one_sentence_without_the_password(url, fragment):
    result = manage("check", env_overrides={"SECRET_KEY": "k", "DATABASE_URL": url})
    assert_clean_failure(result, fragment)
    assert ":pw@" not in result.stderr


def test_unreachable_server_is_reported_in_one_sentence():
    url = "postgres://someone:topsecret@127.0.0.1:9/nowhere"
    result = manage("migrate", env_overrides={"SECRET_KEY": "k", "DATABASE_URL": url})
    assert_clean_failure(result, "Cannot connect to PostgreSQL database 'nowhere' at 127.0.0.1:9")
    assert "topsecret" not in result.stderr


def test_an_unreachable_owner_is_reported_naming_migration_database_url():
    env = {
        "SECRET_KEY": "k",
        "DATABASE_URL": "postgres://app:apppw@127.0.0.1:9/beep",
        "MIGRATION_DATABASE_URL": "postgres://own:p%40ss%2Fw%23rd%3A1@127.0.0.1:9/beep",
    }
    result = manage("migrate", env_overrides=env)
    assert_clean_failure(
        result,
        "Cannot connect to PostgreSQL database 'beep' at 127.0.0.1:9 as 'own'",
        "MIGRATION_DATABASE_URL",
    )
    assert "p@ss" not in result.stderr and "p%40ss" not in result.stderr


def test_a_short_better_auth_secret_is_a_clear_error_that_does_not_echo_it():
    result = manage("check", env_overrides={"DEBUG": "1", "BETTER_AUTH_SECRET": "too-short-to-use"})
    assert_clean_failure(result, "BETTER_AUTH_SECRET", "at least 32 characters")
    assert "too-short-to-use" not in result.stderr + result.stdout


def test_better_auth_secret_turns_on_co_tenancy():
    code = (
        "from django.conf import settings; from beep_iam.conf import iam_settings; "
        "from beep_shared.conf import shared_settings; "
        "s = iam_settings(); m = settings.MIDDLEWARE; "
        "print(shared_settings().session_token_storage, s.better_auth_passwords, "
        "m.index('beep_iam.better_auth.middleware.BetterAuthSessionMiddleware') "
        "== m.index('beep_shared.rls.middleware.TenantMiddleware') - 1, "
        "settings.AUTHENTICATION_BACKENDS[0].rsplit('.', 1)[1])"
    )
    result = manage(
        "shell",
        "-c",
        code,
        env_overrides={"DEBUG": "1", "BETTER_AUTH_SECRET": "x" * 40},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["plain", "True", "True", "CredentialAccountBackend"]
