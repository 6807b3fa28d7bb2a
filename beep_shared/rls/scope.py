"""What the current code asks the database to be: a tenant, the bypass role, or nothing.

The wish lives in a context variable (per thread and per asyncio task, copied into
``sync_to_async`` calls), keyed by database alias. :mod:`beep_shared.rls.connection`
applies it to each transaction lazily, on the transaction's first statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Scope:
    """``organization_id``: the tenant (None: no tenant, no rows of standard tables).
    ``role``: a role to switch to for the transaction (the bypass role) or None."""

    organization_id: str | None = None
    role: str | None = None

    @property
    def is_bypass(self) -> bool:
        return self.role is not None


NO_SCOPE = Scope()

_EMPTY: Mapping[str, Scope] = MappingProxyType({})
_wanted: ContextVar[Mapping[str, Scope]] = ContextVar("beep_rls_scope", default=_EMPTY)


def wanted(alias: str) -> Scope:
    return _wanted.get().get(alias, NO_SCOPE)


def push(alias: str, scope: Scope) -> object:
    """Make ``scope`` current for ``alias``; returns the token for :func:`pop`."""
    return _wanted.set(MappingProxyType({**_wanted.get(), alias: scope}))


def pop(token: object) -> None:
    _wanted.reset(token)  # type: ignore[arg-type]
