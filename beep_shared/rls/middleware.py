"""Request middleware: the request's transaction runs as the session's active organization.

Where the organization comes from, first match wins (and on every request the user must
still be allowed there, :func:`~beep_shared.rls.access.may_work_in`, checked once per
request; otherwise the request runs with no organization):

1. ``request.beep_session.active_organization_id``, when an authentication layer attached
   the better-auth style :class:`~beep_shared.models.Session` as ``request.beep_session``;
2. the Django session key :data:`ACTIVE_TENANT_SESSION_KEY` (set by the admin's
   organization switcher, or by the application).

In the admin a superuser with no organization chosen works across all tenants on the
bypass alias (when one is configured); everyone else sees the chosen organization only.
With neither a tenant nor the bypass, the request runs as usual (autocommit) and tenant
tables show no rows.

Place it after ``AuthenticationMiddleware``. The view's transaction is committed when the
response is returned and rolled back when the view raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject, empty
from django.utils.module_loading import import_string

from beep_shared.rls.access import (
    check_with_user_load,
    may_work_in,
    record_holds,
    tenant_check,
    verified_session_record,
)
from beep_shared.rls.context import (
    bypass_database_or_none,
    bypass_rls,
    scope_context,
    stream_within,
    tenant_id,
)
from beep_shared.rls.routing import rls_database
from beep_shared.rls.scope import NO_SCOPE, Scope, TenantCheck

ACTIVE_TENANT_SESSION_KEY = "beep_active_organization_id"
#: A Django session that the ordinary check verified (user, password hash fingerprint, MAC).
VERIFIED_SESSION_KEY = "_beep_rls_verified"
_SCOPED = "_beep_rls_scoped"
_ACCESS = "_beep_rls_access"
_ORDINARY = "_beep_rls_ordinary"


@functools.cache
def _backend_is_user_backend(path: str) -> bool:
    # beep_shared.backends.UserBackend and its subclasses (imported by name: the backends
    # module sits above this package).
    try:
        return bool(getattr(import_string(path), "loads_users_by_validity_rule", False))
    except ImportError:
        return False


def _loads_like_user_backend(path: Any) -> bool:
    """Django's load of the session's user is UserBackend's (the rule the SQL repeats)."""
    return (
        isinstance(path, str)
        and path in settings.AUTHENTICATION_BACKENDS
        and _backend_is_user_backend(path)
    )


def session_tenant_id(request: HttpRequest) -> str | None:
    """The active organization of the request's session, validated, or None (what the OAuth
    consent records as a grant's organization, beep_iam.oauth2.tenancy)."""
    return _chosen(request)[0]


def _may_hold_data(session: Any) -> bool:
    """Whether reading ``session`` may find anything: a request without a session cookie,
    whose session nothing wrote to yet, has an empty one. Not reading it keeps
    SessionMiddleware from adding ``Vary: Cookie`` to responses that do not depend on it
    (discovery, JWKS, the token endpoint: a shared cache would key them per cookie)."""
    if not isinstance(session, SessionBase):  # a stand-in (a dict): read it
        return True
    return session.session_key is not None or session.modified


def _chosen(request: HttpRequest) -> tuple[str | None, bool]:
    """(organization id or None, whether it came from the Django session key)."""
    beep_session = getattr(request, "beep_session", None)
    value = getattr(beep_session, "active_organization_id", None)
    from_django_session = value is None
    if from_django_session:
        session = getattr(request, "session", None)
        value = (
            session.get(ACTIVE_TENANT_SESSION_KEY)
            if session is not None and _may_hold_data(session)
            else None
        )
    try:
        return tenant_id(value), from_django_session
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
    return Scope(tenant_id=chosen) if chosen else NO_SCOPE


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
    """Runs each request as its tenant on ``BEEP_SHARED["RLS_DATABASE"]`` (default alias)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.using: str = rls_database()
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
        return Scope(tenant_id=chosen) if chosen else NO_SCOPE

    def check_in_sql(self, request: HttpRequest, chosen: str | None) -> TenantCheck | None:
        """The check for the database to answer in front of the request's first statement,
        when the request's Django session was verified before and its user is not loaded
        yet (:func:`~beep_shared.rls.access.tenant_check`); None: the ordinary way."""
        user = request.__dict__.get("user")
        session = getattr(request, "session", None)
        if (
            chosen is None
            or session is None
            or getattr(request, _ORDINARY, False)
            or not isinstance(user, SimpleLazyObject)
            or user._wrapped is not empty  # loaded already: the ordinary check is cheaper
            or not _loads_like_user_backend(session.get(BACKEND_SESSION_KEY))
        ):
            return None
        user_id = session.get(SESSION_KEY)
        fingerprint = record_holds(session.get(VERIFIED_SESSION_KEY), user_id)
        if fingerprint is None:
            return None
        check = tenant_check(str(user_id), fingerprint, chosen)
        if check is not None:
            setattr(request, _ORDINARY, True)  # a refusal comes back the ordinary way
        return check

    def still_holds(self, request: HttpRequest, chosen: str) -> bool:
        """Whatever the organization came from (the switcher, a better-auth session's
        active_organization_id), the user must still be allowed in it on this request."""
        if still_allowed(request, chosen):
            self.remember_verified(request)
            return True
        _, from_django_session = _chosen(request)
        if from_django_session and hasattr(request, "session"):
            # The switcher's choice no longer holds (membership suspended or deleted,
            # organization gone, user deactivated): forget it.
            request.session.pop(ACTIVE_TENANT_SESSION_KEY, None)
        return False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_admin_request(request):
            scope = self.scope_for(request)  # the check decides the admin's scope
        else:
            # Checked below, as the first statement of the request's own transaction (or in
            # front of it, by the database, for a session verified before): the check costs
            # no transaction and no round trip of its own.
            chosen, from_django_session = _chosen(request)
            check = self.check_in_sql(request, chosen) if from_django_session else None
            scope = Scope(tenant_id=chosen, check=check) if chosen else NO_SCOPE
        request.rls_scope = scope  # type: ignore[attr-defined]
        if scope == NO_SCOPE:
            return self.get_response(request)
        alias = scope.bypass or self.using
        setattr(request, _SCOPED, alias)
        # Inside a caller's transaction (tests) a savepoint of our own keeps a rollback
        # for the view's exception from spoiling the caller's.
        nested = connections[alias].in_atomic_block
        response: HttpResponse | None = None
        check = scope.check
        refused = False
        with self.enter(scope):
            tenant = scope.tenant_id
            if tenant is None or check is not None or self.still_holds(request, tenant):
                if nested:
                    with transaction.atomic(using=alias):
                        response = self.get_response(request)
                        refused = check is not None and check.granted == ""
                        if refused:
                            transaction.set_rollback(True, using=alias)
                else:
                    response = self.get_response(request)
                    refused = check is not None and check.granted == ""
                    if refused:
                        transaction.set_rollback(True, using=alias)
        if refused:
            # What the view did ran with no tenant and is undone; the request goes the
            # ordinary way (load the user, may_work_in), which also refreshes or drops
            # what the session remembered.
            request.session.pop(VERIFIED_SESSION_KEY, None)
            setattr(request, _SCOPED, None)
            return self(request)
        if response is None:
            # No longer allowed there: the request runs with no organization.
            setattr(request, _SCOPED, None)
            request.rls_scope = NO_SCOPE  # type: ignore[attr-defined]
            return self.get_response(request)
        if response.streaming:
            response = self.stream_in_scope(request, response, scope)
        return response

    @staticmethod
    def remember_verified(request: HttpRequest) -> None:
        """After the ordinary check held for a Django session: remember it for
        :meth:`check_in_sql` (the session changes only when the record does)."""
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if (
            session is None
            or getattr(request, "beep_session", None) is not None
            or user is None
            or not user.is_authenticated
            or str(session.get(SESSION_KEY)) != str(user.pk)
            or not _loads_like_user_backend(session.get(BACKEND_SESSION_KEY))
        ):
            return
        record = verified_session_record(user)
        if session.get(VERIFIED_SESSION_KEY) != record:
            session[VERIFIED_SESSION_KEY] = record

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
        return stream_within(
            response,
            lambda: self.enter(scope),
            f"{request.path} streams an asynchronous iterator inside a tenant scope; "
            "TenantMiddleware cannot run it as the tenant. Stream a synchronous "
            "iterator, or build the content in the view.",
        )

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        # Django turns the view's exception into a 500 response before it reaches
        # __call__, which would then commit: mark the request's transaction instead.
        alias = getattr(request, _SCOPED, None)
        if alias:
            transaction.set_rollback(True, using=alias)
        return None
