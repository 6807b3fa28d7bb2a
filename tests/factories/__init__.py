"""factory-boy factories, one module per area, all importable from ``tests.factories``."""

from django.apps import apps

from .shared import OrganizationFactory, SessionFactory, TeamFactory, UserFactory

if apps.is_installed("beep_iam"):  # absent under config.test_settings_shared_only
    from .iam import *  # noqa: F403
    from .oauth import *  # noqa: F403
    from .tenant import *  # noqa: F403

__all__ = ["OrganizationFactory", "SessionFactory", "TeamFactory", "UserFactory"]
