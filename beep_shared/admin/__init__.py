from django.contrib import admin

from .login import AdminLoginForm
from .organization import OrganizationAdmin, TeamAdmin
from .session import SessionAdmin
from .tenant import TenantModelAdmin
from .user import UserAdmin

admin.site.login_form = AdminLoginForm

__all__ = ["OrganizationAdmin", "SessionAdmin", "TeamAdmin", "TenantModelAdmin", "UserAdmin"]
