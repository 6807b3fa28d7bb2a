"""Request middleware: the request's transaction runs as the session's active organization.

Where the organization comes from, first match wins:

1. ``request.beep_session.active_organization_id``, when an authentication layer attached
   the better-auth style :class:`~beep_shared.models.Session` as ``request.beep_session``;
2. the Django session key :data:`ACTIVE_ORGANIZATION_SESSION_KEY` (set by the admin's
   organization switcher, or by the application).

In the admin a superuser with no organization chosen works across all tenants through the
bypass role (when ``BEEP_RLS_BYPASS_ROLE`` is set); everyone else sees the chosen
organization only. With neither a tenant nor the bypass, the request runs as usual
(autocommit) and tenant tables show no rows.

Place it after ``AuthenticationMiddleware``. The view's transaction is committed when the
response is returned and rolled back when the view raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from beep_shared.rls.context import bypass_role, organization_id, scope_context
from beep_shared.rls.scope import NO_SCOPE, Scope

ACTIVE_ORGANIZATION_SESSION_KEY = "beep_active_organization_id"
_SCOPED = "_beep_rls_scoped"


def session_organization_id(request: HttpRequest) -> str | None:
    """The active organization of the request's session, validated, or None."""
    beep_session = getattr(request, "beep_session", None)
    value = getattr(beep_session, "active_organization_id", None)
    if value is None:
        session = getattr(request, "session", None)
        value = session.get(ACTIVE_ORGANIZATION_SESSION_KEY) if session is not None else None
    try:
        return organization_id(value)
    except ValidationError:
        return None


def admin_prefix() -> str | None:
    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return None


def admin_scope(request: HttpRequest, chosen: str | None) -> Scope:
    """Superusers without a chosen organization work across tenants, when possible."""
    user = getattr(request, "user", None)
    if chosen is None and user is not None and user.is_active and user.is_superuser:
        role = bypass_role()
        if role is not None:
            return Scope(role=role)
    return Scope(organization_id=chosen) if chosen else NO_SCOPE


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
        chosen = session_organization_id(request)
        if self.is_admin_request(request):
            return admin_scope(request, chosen)
        return Scope(organization_id=chosen) if chosen else NO_SCOPE

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope_for(request)
        request.rls_scope = scope  # type: ignore[attr-defined]
        if scope == NO_SCOPE:
            return self.get_response(request)
        setattr(request, _SCOPED, True)
        # Inside a caller's transaction (tests) a savepoint of our own keeps a rollback
        # for the view's exception from spoiling the caller's.
        nested = connections[self.using].in_atomic_block
        with scope_context(scope, using=self.using):
            if nested:
                with transaction.atomic(using=self.using):
                    return self.get_response(request)
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        # Django turns the view's exception into a 500 response before it reaches
        # __call__, which would then commit: mark the request's transaction instead.
        if getattr(request, _SCOPED, False):
            transaction.set_rollback(True, using=self.using)
        return None
