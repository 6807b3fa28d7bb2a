from beep_shared.db import model_hooks as _model_hooks  # noqa: F401  (connects class_prepared)

from .base import Table
from .org_model import OrgModel
from .organization import Organization, OrganizationType, SubscriptionStatus, SubscriptionTier
from .session import Session
from .team import Team
from .user import User, UserManager, UserRole

__all__ = [
    "OrgModel",
    "Organization",
    "OrganizationType",
    "Session",
    "SubscriptionStatus",
    "SubscriptionTier",
    "Table",
    "Team",
    "User",
    "UserManager",
    "UserRole",
]
