"""Settings for the test suite: the project's settings with a test-only secret key."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from config.settings import *  # noqa: F403
