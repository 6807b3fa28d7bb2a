"""factory-boy factories, one module per area, all importable from ``tests.factories``."""

from .iam import *  # noqa: F403
from .oauth import *  # noqa: F403
from .org import *  # noqa: F403
from .shared import OrganizationFactory, SessionFactory, TeamFactory, UserFactory

__all__ = ["OrganizationFactory", "SessionFactory", "TeamFactory", "UserFactory"]
