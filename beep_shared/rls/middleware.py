"""Request middleware: the request's transaction runs as the session's active organization.

Where the organization comes from, first match wins (and on every request the user must
still be allowed there, :func:`~beep_shared.rls.access.may_work_in`, checked once per
request; otherwise the request runs with no organization):

1. ``request.beep_session.active_organization_id``, when an authentication layer attached
   the better-auth style :class:`~beep_shared.models.Session` as ``request.beep_session``;
2. the Django session key :data:`ACTIVE_ORGANIZATION_SESSION_KEY` (set by the admin's
   organization switcher, or by the application).

In the admin a superuser with no organization chosen works across all tenants on the
bypass alias (when one is configured); everyone else sees the chosen organization only.
With neither a tenant nor the bypass, the request runs as usual (autocommit) and tenant
tables show no rows.

Place it after ``AuthenticationMiddleware``. The view's transaction is committed when the
response is returned and rolled back when the view raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from beep_shared.rls.access import check_with_user_load, may_work_in
from beep_shared.rls.context import (
    bypass_database_or_none,
    bypass_rls,
    organization_id,
    scope_context,
)
from beep_shared.rls.scope import NO_SCOPE, Scope

ACTIVE_ORGANIZATION_SESSION_KEY = "beep_active_organization_id"
_SCOPED = "_beep_rls_scoped"
_ACCESS = "_beep_rls_access"


def session_organization_id(request: HttpRequest) -> str | None:
    """The active organization of the request's session, validated, or None."""
    return _chosen(request)[0]


def _chosen(request: HttpRequest) -> tuple[str | None, bool]:
    """(organization id or None, whether it came from the Django session key)."""
    beep_session = getattr(request, "beep_session", None)
    value = getattr(beep_session, "active_organization_id", None)
    from_django_session = value is None
    if from_django_session:
        session = getattr(request, "session", None)
        value = session.get(ACTIVE_ORGANIZATION_SESSION_KEY) if session is not None else None
    try:
        return organization_id(value), from_django_session
    except ValidationError:
        return None, from_django_session


def admin_prefix() -> str | None:
    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return None


def admin_scope(request: HttpRequest, chosen: str | None) -> Scope:
    """Superusers without a chosen organization work across tenants, when possible."""
    user = getattr(request, "user", None)
    if chosen is None and user is not None and user.is_active and user.is_superuser:
        alias = bypass_database_or_none()
        if alias is not None:
            return Scope(bypass=alias, tenant_tables_only=True)
    return Scope(organization_id=chosen) if chosen else NO_SCOPE


def still_allowed(request: HttpRequest, chosen: str) -> bool:
    """Whether the request's user may still work in ``chosen`` (once per request)."""
    cached = getattr(request, _ACCESS, None)
    if cached is not None and cached[0] == chosen:
        return cached[1]
    # Loading request.user (Django verifies the session with it) answers the check in the
    # same statement when the request already runs as ``chosen``.
    with check_with_user_load(chosen):
        allowed = may_work_in(getattr(request, "user", None), chosen)
    setattr(request, _ACCESS, (chosen, allowed))
    return allowed


class TenantMiddleware:
    """Runs each request as its tenant on ``settings.BEEP_RLS_DATABASE`` (default alias)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.using: str = getattr(settings, "BEEP_RLS_DATABASE", DEFAULT_DB_ALIAS)
        self._admin_prefix: str | bool | None = False  # False: not looked up yet

    def is_admin_request(self, request: HttpRequest) -> bool:
        if self._admin_prefix is False:
            self._admin_prefix = admin_prefix()
        prefix = self._admin_prefix
        return isinstance(prefix, str) and request.path_info.startswith(prefix)

    def scope_for(self, request: HttpRequest) -> Scope:
        """The request's scope, its organization checked (:meth:`still_holds`)."""
        chosen, _ = _chosen(request)
        if chosen is not None and not self.still_holds(request, chosen):
            chosen = None
        if self.is_admin_request(request):
            return admin_scope(request, chosen)
        return Scope(organization_id=chosen) if chosen else NO_SCOPE

    def still_holds(self, request: HttpRequest, chosen: str) -> bool:
        """Whatever the organization came from (the switcher, a better-auth session's
        active_organization_id), the user must still be allowed in it on this request."""
        if still_allowed(request, chosen):
            return True
        _, from_django_session = _chosen(request)
        if from_django_session and hasattr(request, "session"):
            # The switcher's choice no longer holds (membership suspended or deleted,
            # organization gone, user deactivated): forget it.
            request.session.pop(ACTIVE_ORGANIZATION_SESSION_KEY, None)
        return False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_admin_request(request):
            scope = self.scope_for(request)  # the check decides the admin's scope
        else:
            # Checked below, as the first statement of the request's own transaction: the
            # check costs no transaction of its own.
            chosen, _ = _chosen(request)
            scope = Scope(organization_id=chosen) if chosen else NO_SCOPE
        request.rls_scope = scope  # type: ignore[attr-defined]
        if scope == NO_SCOPE:
            return self.get_response(request)
        alias = scope.bypass or self.using
        setattr(request, _SCOPED, alias)
        # Inside a caller's transaction (tests) a savepoint of our own keeps a rollback
        # for the view's exception from spoiling the caller's.
        nested = connections[alias].in_atomic_block
        response: HttpResponse | None = None
        with self.enter(scope):
            org = scope.organization_id
            if org is None or self.still_holds(request, org):  # cached for the admin's
                if nested:
                    with transaction.atomic(using=alias):
                        response = self.get_response(request)
                else:
                    response = self.get_response(request)
        if response is None:
            # No longer allowed there: the request runs with no organization.
            setattr(request, _SCOPED, None)
            request.rls_scope = NO_SCOPE  # type: ignore[attr-defined]
            return self.get_response(request)
        if response.streaming:
            response = self.stream_in_scope(request, response, scope)
        return response

    def enter(self, scope: Scope) -> Any:
        if scope.bypass is not None:
            return bypass_rls(using=self.using, tenant_tables_only=scope.tenant_tables_only)
        return scope_context(scope, using=self.using)

    def stream_in_scope(
        self, request: HttpRequest, response: HttpResponse, scope: Scope
    ) -> HttpResponse:
        """Produce streamed content in the request's scope, in a transaction of its own.

        The content is iterated after the request's transaction has ended; without this
        it would run with no tenant and stream no (or, in nullable tables, other) rows.
        """
        if getattr(response, "is_async", False):
            raise ImproperlyConfigured(
                f"{request.path} streams an asynchronous iterator inside a tenant scope; "
                "TenantMiddleware cannot run it as the tenant. Stream a synchronous "
                "iterator, or build the content in the view."
            )
        content = response.streaming_content  # type: ignore[attr-defined]

        def scoped() -> Iterator[bytes]:
            with self.enter(scope):
                yield from content

        response.streaming_content = scoped()  # type: ignore[attr-defined]
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        # Django turns the view's exception into a 500 response before it reaches
        # __call__, which would then commit: mark the request's transaction instead.
        alias = getattr(request, _SCOPED, None)
        if alias:
            transaction.set_rollback(True, using=alias)
        return None
