"""Run code as one tenant, or across tenants through the bypass role.

Both context managers make their wish current for the database alias and make sure a
transaction is open (Django's ``atomic`` when none is), because the setting is
transaction-local; :mod:`beep_shared.rls.connection` sends it with the transaction's
first statement. Leaving the block restores the previous wish; statements after it, in
the same transaction, run with that one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from beep_shared.ids import validate_id
from beep_shared.rls import connection as rls_connection
from beep_shared.rls import scope as rls_scope
from beep_shared.rls.scope import Scope
from beep_shared.rls.sql import validate_role_name

F = TypeVar("F", bound=Callable[..., Any])

ORGANIZATION_PREFIX = "organization"


def organization_id(organization: Any) -> str | None:
    """The id of ``organization`` (an Organization, its id, or None), validated."""
    if organization is None:
        return None
    value = getattr(organization, "pk", organization)
    return validate_id(ORGANIZATION_PREFIX, value)


def bypass_role() -> str | None:
    """The ``BYPASSRLS`` role of ``settings.BEEP_RLS_BYPASS_ROLE``, or None."""
    role = getattr(settings, "BEEP_RLS_BYPASS_ROLE", None)
    if not role:
        return None
    try:
        return validate_role_name(role)
    except ValueError as exc:
        raise ImproperlyConfigured(f"BEEP_RLS_BYPASS_ROLE: {exc}") from None


def bypass_configured() -> bool:
    return bypass_role() is not None


def current_scope(using: str = DEFAULT_DB_ALIAS) -> Scope:
    """The scope code on this alias currently runs in (``Scope()`` when none)."""
    return rls_scope.wanted(using)


@contextmanager
def scope_context(scope: Scope, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[Scope]:
    connection = connections[using]
    rls_connection.install(connection)
    token = rls_scope.push(using, scope)
    try:
        if connection.in_atomic_block:
            yield scope
        else:
            # Kept current until after the commit, so on_commit callbacks registered
            # inside the block run for the same tenant.
            with transaction.atomic(using=using):
                yield scope
    finally:
        rls_scope.pop(token)


def tenant_context(organization: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Run the block (or, as a decorator, the function) as ``organization``.

    ``organization`` is an Organization or its id; None means no tenant (standard tables
    show no rows). Opens a transaction when none is open. Usable as
    ``with tenant_context(org):`` and as ``@tenant_context(org_id)``.
    """
    return scope_context(Scope(organization_id=organization_id(organization)), using=using)


def bypass_rls(*, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Run the block across all tenants as the ``BYPASSRLS`` role (maintenance, admin).

    The role is switched with a transaction-local ``SET LOCAL ROLE`` and
    switched back when the block ends or the transaction does. Raises
    ``ImproperlyConfigured`` when ``BEEP_RLS_BYPASS_ROLE`` is not set.
    """
    role = bypass_role()
    if role is None:
        raise ImproperlyConfigured(
            "Cross-tenant access needs a PostgreSQL role with BYPASSRLS: set "
            "BEEP_RLS_BYPASS_ROLE (see docs/rls.md, 'Bypass role')."
        )
    return scope_context(Scope(role=role), using=using)


def for_tenant(
    parameter: str = "organization", *, using: str = DEFAULT_DB_ALIAS
) -> Callable[[F], F]:
    """Decorator: run the function as the organization passed in its ``parameter``.

    ``@for_tenant("org_id") def sync_members(org_id, ...)`` runs each call inside
    ``tenant_context(org_id)``.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        if parameter not in signature.parameters:
            raise TypeError(f"{func.__qualname__} has no parameter {parameter!r}")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with tenant_context(bound.arguments[parameter], using=using):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
