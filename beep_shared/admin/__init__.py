from .organization import OrganizationAdmin, TeamAdmin
from .session import SessionAdmin
from .user import UserAdmin

__all__ = ["OrganizationAdmin", "SessionAdmin", "TeamAdmin", "UserAdmin"]
