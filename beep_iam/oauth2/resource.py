"""The resource-server side: views that require an OAuth bearer token.

```python
from beep_iam.oauth2.resource import require_oauth

@require_oauth("read:invoices")
def invoices(request):
    request.oauth_token  # AccessTokenInfo: client_id, user_id, scopes, reference_id, ...
    request.user         # the token's user (AnonymousUser for a client_credentials token)
```

One indexed statement (``validate_access_token``) decides; the user is loaded only when the
view reads ``request.user``. A token granted for an organization (``reference_id``) runs the
view as that tenant (row level security). Errors are RFC 6750's: 401 with
``WWW-Authenticate: Bearer`` without a token or with an invalid one, 403
``insufficient_scope`` when a scope is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from beep_iam.oauth2.views import _bearer_challenge, bearer_challenge, bearer_token
from beep_iam.services.oauth_tokens import AccessTokenInfo, validate_access_token
from beep_shared.rls import tenant_context
from beep_shared.rls.access import may_work_in
from beep_shared.rls.context import organization_id

View = Callable[..., HttpResponse]


class BearerError(Exception):
    """A refused bearer request (RFC 6750 section 3): its status, error and challenge."""

    def __init__(
        self,
        status: int,
        error: str | None = None,
        description: str | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(description or "a bearer token is required")
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    @property
    def challenge(self) -> str:
        return bearer_challenge(self.error, self.description, self.scope)

    def response(self) -> HttpResponse:
        return _bearer_challenge(self.error, self.description, self.status, self.scope)


def check_scopes(info: AccessTokenInfo, scopes: Sequence[str]) -> None:
    """:class:`BearerError` 403 ``insufficient_scope`` unless the token holds every scope."""
    missing = [s for s in scopes if s not in info.scopes]
    if missing:
        raise BearerError(
            403, "insufficient_scope", f"scope(s) {' '.join(missing)} required", " ".join(scopes)
        )


def authenticate_bearer(request: HttpRequest, scopes: Sequence[str] = ()) -> AccessTokenInfo:
    """The valid access token of the request's ``Authorization: Bearer`` header holding
    ``scopes``, or :class:`BearerError`; the one check behind the decorator and the DRF
    classes."""
    raw = bearer_token(request)
    if raw is None:
        raise BearerError(401)
    info = validate_access_token(raw)
    if info is None:
        raise BearerError(401, "invalid_token", "the access token is invalid")
    check_scopes(info, scopes)
    tenant = token_tenant(info)
    # The organization was the user's at consent; it must still be (the rule every request's
    # organization is held to, beep_shared.rls.access.may_work_in).
    if (
        tenant is not None
        and info.user_id is not None
        and not may_work_in(_user(info.user_id), tenant)
    ):
        raise BearerError(
            401, "invalid_token", "the token's user no longer works in its organization"
        )
    return info


def token_user(info: AccessTokenInfo) -> Any:
    """The token's user, loaded when first read (AnonymousUser for a machine token)."""
    return SimpleLazyObject(lambda: _user(info.user_id))


def token_tenant(info: AccessTokenInfo) -> str | None:
    """The organization the token was granted for, or None."""
    try:
        return organization_id(info.reference_id)
    except ValidationError:
        return None  # granted for something else than an organization: no tenant


def _user(user_id: str | None) -> Any:
    if user_id is None:
        return AnonymousUser()
    return get_user_model().objects.get(pk=user_id)


def require_oauth(*scopes: str) -> Callable[[View], View]:
    """Require a valid bearer token holding every scope in ``scopes``."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                info = authenticate_bearer(request, scopes)
            except BearerError as refused:
                return refused.response()
            request.oauth_token = info  # type: ignore[attr-defined]
            request.user = token_user(info)
            tenant = token_tenant(info)
            if tenant is None:
                return view(request, *args, **kwargs)
            with tenant_context(tenant):
                return view(request, *args, **kwargs)

        return wrapped

    return decorator
