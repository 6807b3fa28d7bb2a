from beep_shared.db import model_hooks as _model_hooks  # noqa: F401  (connects class_prepared)

from .base import Table
from .organization import Organization, OrganizationType, SubscriptionStatus, SubscriptionTier
from .session import Session
from .team import Team
from .tenant_model import TenantModel
from .user import User, UserManager, UserRole

__all__ = [
    "Organization",
    "OrganizationType",
    "Session",
    "SubscriptionStatus",
    "SubscriptionTier",
    "Table",
    "Team",
    "TenantModel",
    "User",
    "UserManager",
    "UserRole",
]
