"""The one registry of tenant models: which models are ``TenantModel`` tables and which of them
row level security protects. The router, ``rls_status``, the system checks and the membership
rule all ask here."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from beep_shared.rls import sql
from beep_shared.rls.setup import rls_mode_of

_protected: dict[type, bool] = {}


def _subclasses_tenant_model(model: type) -> bool:
    from beep_shared.models import TenantModel

    return isinstance(model, type) and issubclass(model, TenantModel)


def tenant_models() -> list[type[models.Model]]:
    """Every installed table of a ``TenantModel`` (policy or not), ordered by table name."""
    return sorted(
        (
            model
            for model in apps.get_models()
            if _subclasses_tenant_model(model) and model._meta.managed and not model._meta.proxy
        ),
        key=lambda model: model._meta.db_table,
    )


def is_tenant_model(model: type) -> bool:
    """Whether row level security protects ``model``'s table (a ``TenantModel`` whose
    ``rls_mode`` installs a policy; proxies answer for their concrete model)."""
    try:
        return _protected[model]
    except KeyError:
        result = _subclasses_tenant_model(model) and rls_mode_of(model) != sql.NONE
        _protected[model] = result
        return result
