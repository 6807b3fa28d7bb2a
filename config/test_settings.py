"""Settings for the test suite: the project's settings with a test-only secret key."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from config.settings import *  # noqa: F403

# Password hashing strength is not under test; PBKDF2's cost would dominate the suite.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# collectstatic's manifest is not built for tests: WhiteNoise serves the apps' files through
# the finders (and finds no missing STATIC_ROOT to warn about).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tests that change the schema connect as the tables' owner (tests/owner.py): the role of
# MIGRATION_DATABASE_URL when set (the settings' own "owner" alias), else the application's
# own role. tests/conftest.py points it at the test database.
DATABASES.setdefault("owner", {**DATABASES["default"], "TEST": {"MIRROR": "default"}})  # noqa: F405
