"""The test settings without beep_iam, for beep_shared's own tests:
``pytest --ds config.test_settings_shared_only tests/shared/test_shared_models.py ...`` (the list
is in tests/project/test_shared_without_iam.py)."""

# First: it sets the test-only SECRET_KEY that config.settings reads when first imported.
from config.test_settings import *  # noqa: F403

# isort: split
from config.settings_shared_only import AUTHENTICATION_BACKENDS, INSTALLED_APPS, MIDDLEWARE

del BEEP_IAM  # noqa: F821
# A test database of its own: tests/project/test_shared_without_iam.py runs these tests from
# inside the suite, whose test database must stay as it is.
DATABASES["default"]["TEST"] = {  # noqa: F405
    **DATABASES["default"].get("TEST", {}),  # noqa: F405
    "NAME": "test_beep_shared_only",
}
__all__ = ["AUTHENTICATION_BACKENDS", "INSTALLED_APPS", "MIDDLEWARE"]
