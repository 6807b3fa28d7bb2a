"""What the current code asks the database to be: a tenant, cross-tenant, or nothing.

The wish lives in a context variable (per thread and per asyncio task, copied into
``sync_to_async`` calls), keyed by database alias. :mod:`beep_shared.rls.connection`
applies the tenant to each transaction on its first statement;
:mod:`beep_shared.rls.routing` sends the ORM to the bypass alias while a bypass is wished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class CheckStatement:
    """The SQL of a :class:`TenantCheck` for ``(user id, fingerprint, organization)``,
    built once per process (:func:`beep_shared.rls.access.tenant_check`).

    ``pieces`` alternate fixed SQL and argument numbers: ``("SELECT ... u.id = ", 0,
    " AND ...", 1, ...)``. ``name``: the name it is prepared under (a digest of its text,
    so another text never runs under it). The server plans it once per connection
    (``PREPARE``, then ``EXECUTE``): planning the check cost the server more than the rest
    of a small request.
    """

    name: str
    pieces: tuple[str | int, ...]

    @property
    def prepare_sql(self) -> str:
        """``PREPARE <name>(text, text, text) AS <the SELECT with $1, $2, $3>``."""
        body = "".join(f"${p + 1}" if isinstance(p, int) else p for p in self.pieces)
        return f"PREPARE {self.name}(text, text, text) AS {body}"

    def inline_sql(self, args: tuple[str, str, str], literal: Callable[[str], str]) -> str:
        """The SELECT with ``args`` as literals (where nothing may be prepared)."""
        return "".join(literal(args[p]) if isinstance(p, int) else p for p in self.pieces)


@dataclass(eq=False)
class TenantCheck:
    """A check the database answers before the tenant holds (``TenantMiddleware``).

    ``statement`` run with ``args``: one ``SELECT`` that sets the tenant
    (``set_config(..., true)``) to the organization when the check holds and to ``''``
    otherwise, and returns what it set. It rides in front of the first statement of the
    transaction, in the same message; until it has answered, nothing else states the
    organization. ``granted``: its answer (None: not asked yet, ``''``: refused).
    """

    statement: CheckStatement
    args: tuple[str, str, str]
    granted: str | None = None


@dataclass(frozen=True)
class Scope:
    """``tenant_id``: the tenant, an organization's id (None: no tenant, no rows of
    standard tables).

    ``bypass``: the database alias (its own login, with ``BYPASSRLS``) the ORM is routed
    to for cross-tenant work, or None. ``tenant_tables_only``: route only the models that
    row level security protects (the admin's superuser browsing, so other tables stay on
    the request's own connection and transaction). ``check``: the organization holds only
    once this check has granted it (:class:`TenantCheck`).
    """

    tenant_id: str | None = None
    bypass: str | None = None
    tenant_tables_only: bool = False
    check: TenantCheck | None = field(default=None, compare=False)

    def tenant(self) -> str:
        """The tenant statements may run as now: ``''`` for none, and for an organization
        whose check has not granted it (yet)."""
        tenant = self.tenant_id or ""
        if tenant and self.check is not None and self.check.granted != tenant:
            return ""
        return tenant

    @property
    def is_bypass(self) -> bool:
        return self.bypass is not None


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
