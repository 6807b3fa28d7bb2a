"""factory-boy factories, one module per area, all importable from ``tests.factories``."""

from .shared import OrganizationFactory, SessionFactory, TeamFactory, UserFactory

__all__ = ["OrganizationFactory", "SessionFactory", "TeamFactory", "UserFactory"]
