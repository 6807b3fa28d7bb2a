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

DPoP (RFC 9449, :mod:`beep_iam.oauth2.dpop`): a DPoP-bound token is accepted only as
``Authorization: DPoP <token>`` with a ``DPoP`` proof of its key for the request; refusals
carry a ``WWW-Authenticate: DPoP ... algs="..."`` challenge (and ``DPoP-Nonce`` when a nonce
is required). ``require_oauth(..., dpop=True)`` (or ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)
refuses bearer tokens altogether.
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

from beep_iam.oauth2 import dpop as dpop_proofs
from beep_iam.oauth2.views import _bearer_challenge, bearer_challenge
from beep_iam.services.oauth_tokens import AccessTokenInfo, validate_access_token
from beep_shared.rls import tenant_context
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
        *,
        dpop: bool = False,
        nonce: str | None = None,
    ) -> None:
        super().__init__(description or "a bearer token is required")
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope
        self.dpop = dpop  # answer with a DPoP challenge (RFC 9449 7.1)
        self.nonce = nonce

    @property
    def challenge(self) -> str:
        if self.dpop:
            return dpop_proofs.challenge(self.error, self.description)
        return bearer_challenge(self.error, self.description, self.scope)

    def response(self) -> HttpResponse:
        response = _bearer_challenge(self.error, self.description, self.status, self.scope)
        response["WWW-Authenticate"] = self.challenge
        if self.nonce is not None:
            response["DPoP-Nonce"] = self.nonce
        return response


def check_scopes(info: AccessTokenInfo, scopes: Sequence[str]) -> None:
    """:class:`BearerError` 403 ``insufficient_scope`` unless the token holds every scope."""
    missing = [s for s in scopes if s not in info.scopes]
    if missing:
        raise BearerError(
            403,
            "insufficient_scope",
            f"scope(s) {' '.join(missing)} required",
            " ".join(scopes),
            dpop=info.dpop_jkt is not None,
        )


def authenticate_bearer(
    request: HttpRequest, scopes: Sequence[str] = (), *, dpop: bool | None = None
) -> AccessTokenInfo:
    """The valid access token of the request's ``Authorization: Bearer`` (or ``DPoP``, with
    its proof) header holding ``scopes``, or :class:`BearerError`; the one check behind the
    decorator, the DRF classes and UserInfo. ``dpop``: refuse bearer tokens (default
    ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)."""
    required = dpop_proofs.conf().required_at_resource if dpop is None else dpop
    presented = dpop_proofs.presentation(request)
    if presented is None:
        raise BearerError(401, dpop=required)
    scheme, raw = presented
    info = validate_access_token(raw)
    if info is None:
        raise BearerError(
            401, "invalid_token", "the access token is invalid", dpop=required or scheme == "DPoP"
        )
    try:
        dpop_proofs.check_presentation(request, scheme, raw, info.dpop_jkt, required=required)
    except dpop_proofs.DPoPError as refused:
        raise BearerError(
            401, refused.error, refused.description, dpop=True, nonce=refused.nonce
        ) from None
    check_scopes(info, scopes)
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


def require_oauth(*scopes: str, dpop: bool | None = None) -> Callable[[View], View]:
    """Require a valid access token holding every scope in ``scopes``; ``dpop=True``: a
    DPoP-bound one (default ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                info = authenticate_bearer(request, scopes, dpop=dpop)
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
