"""The database router that sends the ORM to the bypass alias inside ``bypass_rls()``.

Cross-tenant work runs on its own database alias (``settings.BEEP_RLS_BYPASS_DATABASE``,
``"bypass"`` by default) whose login role has ``BYPASSRLS``; the role serving requests can
never switch to it. While a bypass is wished for the RLS alias (a context variable, see
:mod:`beep_shared.rls.scope`) reads and writes go there; outside one, rows loaded through
the bypass alias are saved and followed through the RLS alias again, so a bypass never
outlives its block.

Add ``"beep_shared.rls.routing.BypassRouter"`` to ``DATABASE_ROUTERS`` (check E012).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS

from beep_shared.rls.scope import wanted

ROUTER = "beep_shared.rls.routing.BypassRouter"

_tenant_models: dict[type, bool] = {}


_rls_alias: list[str] = []  # the setting, read once (and again after a settings change)


def rls_database() -> str:
    """The alias web requests use, whose tenant the policies read."""
    # Every ORM query is routed through here: reading an absent setting through Django's
    # lazy settings raises and catches an AttributeError each time (about 9 µs, more than
    # the rest of the route and a tenth of a prepared token lookup).
    if not _rls_alias:
        _rls_alias.append(getattr(settings, "BEEP_RLS_DATABASE", DEFAULT_DB_ALIAS))
    return _rls_alias[0]


def _forget_rls_alias(*, setting: str, **kwargs: Any) -> None:
    if setting == "BEEP_RLS_DATABASE":
        _rls_alias.clear()


setting_changed.connect(_forget_rls_alias, dispatch_uid="beep_shared.rls.routing.rls_alias")


def is_tenant_model(model: type) -> bool:
    """Whether row level security protects ``model``'s table (an OrgModel with a policy)."""
    try:
        return _tenant_models[model]
    except KeyError:
        from beep_shared.models import OrgModel
        from beep_shared.rls import sql

        result = issubclass(model, OrgModel) and getattr(model, "rls_mode", None) != sql.NONE
        _tenant_models[model] = result
        return result


def _route(model: type, hints: dict[str, Any]) -> str | None:
    source = rls_database()
    scope = wanted(source)
    if scope.bypass is not None:
        if scope.tenant_tables_only and not is_tenant_model(model):
            return None
        return scope.bypass
    instance = hints.get("instance")
    state = getattr(instance, "_state", None)
    if state is not None and state.db is not None and state.db != source:
        from beep_shared.rls.context import bypass_database_or_none

        if state.db == bypass_database_or_none():
            return source
    return None


class BypassRouter:
    """Routes to the bypass alias while ``bypass_rls()`` (or the admin's bypass) is active."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return _route(model, hints)

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return _route(model, hints)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Both aliases reach the same database: rows may refer to each other.
        from beep_shared.rls.context import bypass_database_or_none

        same = {rls_database(), bypass_database_or_none()}
        if obj1._state.db in same and obj2._state.db in same:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        from beep_shared.rls.context import bypass_database_or_none

        # Same database as the RLS alias, which migrations run on.
        if db == bypass_database_or_none():
            return False
        return None
