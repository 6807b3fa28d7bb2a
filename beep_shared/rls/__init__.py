"""Row level security for tenant-scoped (``TenantModel``) tables.

- :func:`tenant_context` / :func:`for_tenant`: run code as one organization (transaction-local).
- :func:`bypass_rls`: cross-tenant work on the bypass alias (its own ``BYPASSRLS`` login).
- :class:`~beep_shared.rls.constraints.RowLevelSecurity`: the policy migrations install.

See ``docs/rls.md``.
"""

from beep_shared.rls.connection import TenantChangedError
from beep_shared.rls.context import (
    bypass_configured,
    bypass_database,
    bypass_rls,
    bypass_role,
    current_scope,
    for_tenant,
    tenant_context,
    tenant_id,
)
from beep_shared.rls.scope import Scope
from beep_shared.rls.sql import MODES, NONE, NULLABLE, STANDARD, TENANT_SETTING

__all__ = [
    "MODES",
    "NONE",
    "NULLABLE",
    "STANDARD",
    "TENANT_SETTING",
    "Scope",
    "TenantChangedError",
    "bypass_configured",
    "bypass_database",
    "bypass_rls",
    "bypass_role",
    "current_scope",
    "for_tenant",
    "tenant_context",
    "tenant_id",
]
