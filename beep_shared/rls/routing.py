"""The database router that sends the ORM to the bypass alias inside ``bypass_rls()``.

Cross-tenant work runs on its own database alias (``BEEP_SHARED["RLS_BYPASS_DATABASE"]``,
``"bypass"`` by default) whose login role has ``BYPASSRLS``; the role serving requests can
never switch to it. While a bypass is wished for the RLS alias (a context variable, see
:mod:`beep_shared.rls.scope`) reads and writes go there; outside one, rows loaded through
the bypass alias are saved and followed through the RLS alias again, so a bypass never
outlives its block.

Add ``"beep_shared.rls.routing.BypassRouter"`` to ``DATABASE_ROUTERS`` (check E012).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from beep_shared.conf import shared_settings
from beep_shared.rls.registry import is_tenant_model
from beep_shared.rls.scope import wanted

ROUTER = "beep_shared.rls.routing.BypassRouter"


def rls_database() -> str:
    """The alias web requests use, whose tenant the policies read."""
    return shared_settings().rls_database


def _route(model: type, hints: dict[str, Any]) -> str | None:
    source = rls_database()
    scope = wanted(source)
    if scope.bypass is not None:
        if scope.tenant_tables_only and not is_tenant_model(model):
            return None
        return scope.bypass
    instance = hints.get("instance")
    state = getattr(instance, "_state", None)
    if (
        state is not None
        and state.db is not None
        and state.db != source
        and state.db == shared_settings().rls_bypass_database
    ):
        return source
    return None


class BypassRouter:
    """Routes to the bypass alias while ``bypass_rls()`` (or the admin's bypass) is active."""

    # Router methods answer None ("no opinion") when BEEP_SHARED is invalid rather than raise:
    # Django calls them from places (check --database, migrate's plan) where an exception
    # would hide the system check (beep_shared.E030) that names the problem.

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        try:
            return _route(model, hints)
        except ImproperlyConfigured:
            return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        try:
            return _route(model, hints)
        except ImproperlyConfigured:
            return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        try:
            conf = shared_settings()
        except ImproperlyConfigured:
            return None
        # Both aliases reach the same database: rows may refer to each other.
        same = {conf.rls_database, conf.rls_bypass_database}
        if obj1._state.db in same and obj2._state.db in same:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        try:
            bypass = shared_settings().rls_bypass_database
        except ImproperlyConfigured:
            return None
        # Same database as the RLS alias, which migrations run on.
        if db == bypass:
            return False
        return None
