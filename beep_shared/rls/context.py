"""Run code as one tenant, or across tenants through the bypass alias.

Both context managers make their wish current for the database alias and make sure a
transaction is open (Django's ``atomic`` when none is), because the setting is
transaction-local; :mod:`beep_shared.rls.connection` sends it with every
statement. Entering and leaving a block inside an open transaction send the new wish at
once, so even statements that skip the wrapper (``cursor.copy()``, the raw psycopg
connection) run with it.
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

from beep_shared.conf import BYPASS_ALIAS, shared_settings
from beep_shared.ids import validate_id
from beep_shared.rls import connection as rls_connection
from beep_shared.rls import scope as rls_scope
from beep_shared.rls.scope import Scope

F = TypeVar("F", bound=Callable[..., Any])

ORGANIZATION_PREFIX = "organization"


def tenant_id(organization: Any) -> str | None:
    """The tenant id of ``organization`` (an Organization, its id, or None), validated."""
    if organization is None:
        return None
    value = getattr(organization, "pk", organization)
    return validate_id(ORGANIZATION_PREFIX, value)


def bypass_database_or_none() -> str | None:
    """The bypass alias (``BEEP_SHARED["RLS_BYPASS_DATABASE"]``, by default ``"bypass"`` when
    that alias exists), or None when cross-tenant access is not configured."""
    return shared_settings().rls_bypass_database


def bypass_database() -> str:
    """The bypass alias; ``ImproperlyConfigured`` when there is none."""
    alias = bypass_database_or_none()
    if alias is None:
        raise ImproperlyConfigured(
            "Cross-tenant access needs a database alias whose login role has BYPASSRLS: add "
            f"DATABASES[{BYPASS_ALIAS!r}] (BYPASS_DATABASE_URL in this project's settings) or "
            "set BEEP_SHARED['RLS_BYPASS_DATABASE'] (see docs/rls.md, 'Database roles')."
        )
    return alias


def bypass_role() -> str | None:
    """The login role of the bypass alias (``USER`` of its settings), or None."""
    alias = bypass_database_or_none()
    if alias is None:
        return None
    return settings.DATABASES[alias].get("USER") or None


def bypass_configured() -> bool:
    return bypass_database_or_none() is not None


def current_scope(using: str = DEFAULT_DB_ALIAS) -> Scope:
    """The scope code on this alias currently runs in (``Scope()`` when none)."""
    return rls_scope.wanted(using)


@contextmanager
def scope_context(scope: Scope, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[Scope]:
    connection = connections[using]
    rls_connection.install(connection)
    outer = rls_scope.wanted(using).tenant()
    token = rls_scope.push(using, scope)
    try:
        rls_connection.apply_now(connection, previous=outer)
        if connection.in_atomic_block:
            yield scope
        else:
            # Kept current until after the commit, so on_commit callbacks registered
            # inside the block run for the same tenant.
            with transaction.atomic(using=using):
                yield scope
    finally:
        inner = rls_scope.wanted(using).tenant()
        rls_scope.pop(token)
        rls_connection.apply_now(connection, previous=inner)


def stream_within(response: Any, enter: Callable[[], Any], refusal: str) -> Any:
    """``response`` with its streamed body produced inside ``enter()`` (a context manager):
    the body is iterated after the view returned, outside whatever scope the view ran in.
    An asynchronous body cannot be: ``ImproperlyConfigured`` with ``refusal``."""
    if getattr(response, "is_async", False):
        raise ImproperlyConfigured(refusal)
    content = response.streaming_content

    def scoped() -> Iterator[bytes]:
        with enter():
            yield from content

    response.streaming_content = scoped()
    return response


def tenant_context(organization: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Run the block (or, as a decorator, the function) as ``organization``.

    ``organization`` is an Organization or its id; None means no tenant (standard tables
    show no rows). Opens a transaction when none is open. Usable as
    ``with tenant_context(organization):`` and as
    ``@tenant_context(organization_id)``.
    """
    return scope_context(Scope(tenant_id=tenant_id(organization)), using=using)


@contextmanager
def bypass_rls(*, using: str = DEFAULT_DB_ALIAS, tenant_tables_only: bool = False) -> Iterator[Any]:
    """Run the block across all tenants on the bypass alias (maintenance, admin).

    The ORM is routed to the bypass alias (its own login role, with ``BYPASSRLS``) inside
    one ``transaction.atomic`` on it; the block gets that connection for raw SQL. Code on
    ``using`` itself (raw SQL through ``connection``) runs with no tenant meanwhile. The
    bypass alias is a separate connection: it does not see uncommitted rows of ``using``'s
    transaction. Raises ``ImproperlyConfigured`` when no bypass alias is configured.
    ``tenant_tables_only``: route only row-level-secured models (the admin uses it).
    """
    alias = bypass_database()
    token = rls_scope.push(using, Scope(bypass=alias, tenant_tables_only=tenant_tables_only))
    try:
        rls_connection.apply_now(connections[using])
        with transaction.atomic(using=alias):
            yield connections[alias]
    finally:
        rls_scope.pop(token)
        rls_connection.apply_now(connections[using])


def for_tenant(
    parameter: str = "organization", *, using: str = DEFAULT_DB_ALIAS
) -> Callable[[F], F]:
    """Decorator: run the function as the organization passed in its ``parameter``.

    ``@for_tenant("organization_id") def sync_members(organization_id, ...)`` runs
    each call inside ``tenant_context(organization_id)``.
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
