"""The project's settings with ``beep_shared`` and without ``beep_iam``: the proof that the
lower app installs, checks, migrates and serves its admin on its own
(tests/project/test_shared_without_iam.py), e.g.
``DEBUG=1 DJANGO_SETTINGS_MODULE=config.settings_shared_only python manage.py check``.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "beep_iam"]  # noqa: F405
MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("beep_iam.")]  # noqa: F405
AUTHENTICATION_BACKENDS = ["beep_shared.backends.UserBackend"]
del BEEP_IAM  # noqa: F821
