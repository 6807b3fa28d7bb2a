from .organization import OrganizationAdmin, TeamAdmin
from .session import SessionAdmin
from .tenant import OrgModelAdmin
from .user import UserAdmin

__all__ = ["OrgModelAdmin", "OrganizationAdmin", "SessionAdmin", "TeamAdmin", "UserAdmin"]
