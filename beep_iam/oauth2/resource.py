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

The resource the view is (RFC 8707; ``require_oauth(..., resource=...)``, else
``BEEP_IAM["OAUTH2_RESOURCE"]``) must be in the token's audience: JWT access tokens
(RFC 9068, this server's or better-auth's) and opaque tokens bound to it are accepted
(:func:`beep_iam.oauth2.access_jwt.validate_bearer`), and every refusal names its RFC 9728
metadata (``resource_metadata``). Without a resource, opaque tokens bound to no resource
only.

DPoP (RFC 9449, :mod:`beep_iam.oauth2.dpop`): a DPoP-bound token is accepted only as
``Authorization: DPoP <token>`` with a ``DPoP`` proof of its key for the request; refusals
carry a ``WWW-Authenticate: DPoP ... algs="..."`` challenge (and ``DPoP-Nonce`` when a nonce
is required). ``require_oauth(..., dpop=True)`` (or ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)
refuses bearer tokens altogether.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from beep_iam.conf import iam_settings
from beep_iam.oauth2 import dpop as dpop_proofs
from beep_iam.oauth2.access_jwt import validate_bearer
from beep_iam.oauth2.resource_metadata import metadata_url
from beep_iam.oauth2.views import _bearer_challenge, bearer_challenge
from beep_iam.services.oauth_tokens import AccessTokenInfo
from beep_iam.services.prepared import user_by_pk
from beep_shared.rls import scope as rls_scope
from beep_shared.rls import tenant_context
from beep_shared.rls.access import may_work_in
from beep_shared.rls.context import stream_within, tenant_id
from beep_shared.rls.routing import rls_database
from beep_shared.rls.scope import NO_SCOPE

View = Callable[..., HttpResponse]


class BearerError(Exception):
    """A refused bearer request (RFC 6750 section 3): its status, error and challenge."""

    def __init__(
        self,
        status: int,
        error: str | None = None,
        description: str | None = None,
        scope: str | None = None,
        resource: str | None = None,
        *,
        dpop: bool = False,
        nonce: str | None = None,
    ) -> None:
        super().__init__(description or "a bearer token is required")
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope
        self.resource_metadata = metadata_url(resource) if resource else None
        self.dpop = dpop  # answer with a DPoP challenge (RFC 9449 7.1)
        self.nonce = nonce

    @property
    def challenge(self) -> str:
        if self.dpop:
            return dpop_proofs.challenge(
                self.error, self.description, self.scope, self.resource_metadata
            )
        return bearer_challenge(self.error, self.description, self.scope, self.resource_metadata)

    def response(self) -> HttpResponse:
        response = _bearer_challenge(
            self.error, self.description, self.status, self.scope, self.resource_metadata
        )
        response["WWW-Authenticate"] = self.challenge
        if self.nonce is not None:
            response["DPoP-Nonce"] = self.nonce
        return response


def protected_resource(resource: str | None = None) -> str | None:
    """The resource identifier a view protects: ``resource``, else the setting."""
    return resource or iam_settings().oauth2_resource


def check_scopes(info: AccessTokenInfo, scopes: Sequence[str], resource: str | None = None) -> None:
    """:class:`BearerError` 403 ``insufficient_scope`` unless the token holds every scope."""
    missing = [s for s in scopes if s not in info.scopes]
    if missing:
        raise BearerError(
            403,
            "insufficient_scope",
            f"scope(s) {' '.join(missing)} required",
            " ".join(scopes),
            resource=protected_resource(resource),
            dpop=info.dpop_jkt is not None,
        )


def authenticate_bearer(
    request: HttpRequest,
    scopes: Sequence[str] = (),
    resource: str | None = None,
    *,
    dpop: bool | None = None,
) -> AccessTokenInfo:
    """The valid access token of the request's ``Authorization: Bearer`` (or ``DPoP``, with
    its proof) header for the protected ``resource`` (default: the setting) holding
    ``scopes``, or :class:`BearerError`; the one check behind the decorator and the DRF
    classes. ``dpop``: refuse bearer tokens (default ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)."""
    audience = protected_resource(resource)
    required = dpop_proofs.conf().required_at_resource if dpop is None else dpop
    try:
        presented = dpop_proofs.presentation(request)
    except dpop_proofs.MalformedPresentation as malformed:
        raise BearerError(
            400, "invalid_request", str(malformed), resource=audience, dpop=required
        ) from None
    if presented is None:
        raise BearerError(401, resource=audience, dpop=required)
    scheme, raw = presented
    info = validate_bearer(raw, audience)
    if info is None:
        raise BearerError(
            401,
            "invalid_token",
            "the access token is invalid",
            resource=audience,
            dpop=required or scheme == "DPoP",
        )
    try:
        dpop_proofs.check_presentation(request, scheme, raw, info.dpop_jkt, required=required)
    except dpop_proofs.DPoPError as refused:
        raise BearerError(
            401,
            refused.error,
            refused.description,
            resource=audience,
            dpop=True,
            nonce=refused.nonce,
        ) from None
    check_scopes(info, scopes, audience)
    tenant = token_tenant(info)
    # The organization was the user's at consent; it must still be (the rule every request's
    # organization is held to, beep_shared.rls.access.may_work_in).
    if (
        tenant is not None
        and info.user_id is not None
        and not may_work_in(_user(info.user_id), tenant)
    ):
        raise BearerError(
            401,
            "invalid_token",
            "the token's user no longer works in its organization",
            resource=audience,
            dpop=info.dpop_jkt is not None,
        )
    return info


def token_user(info: AccessTokenInfo) -> Any:
    """The token's user, loaded when first read (AnonymousUser for a machine token)."""
    return SimpleLazyObject(lambda: _user(info.user_id))


def token_tenant(info: AccessTokenInfo) -> str | None:
    """The organization the token was granted for, or None."""
    try:
        return tenant_id(info.reference_id)
    except ValidationError:
        return None  # granted for something else than an organization: no tenant


def _enters_a_scope(info: AccessTokenInfo) -> bool:
    """Whether running as the token changes the scope: it names an organization, or the
    request runs in one (TenantMiddleware's, from a session cookie) it must leave."""
    return token_tenant(info) is not None or rls_scope.wanted(rls_database()) != NO_SCOPE


def token_scope(info: AccessTokenInfo) -> AbstractContextManager[Any]:
    """Run as the organization the token was granted for, and as no organization for a token
    granted for none: never as the one TenantMiddleware took from a session cookie sent along
    (a request is one identity, the token's)."""
    if not _enters_a_scope(info):
        return nullcontext()  # nothing to leave: no transaction of its own either
    return tenant_context(token_tenant(info), using=rls_database())


def stream_as_token(info: AccessTokenInfo, response: Any) -> Any:
    """``response``, whose streamed body (produced after the view returned, where
    TenantMiddleware would produce it in a session cookie's scope, or none) runs in
    :func:`token_scope` too. A file's bytes need no scope (sendfile stays possible)."""
    if (
        not getattr(response, "streaming", False)
        or getattr(response, "file_to_stream", None) is not None
        or not _enters_a_scope(info)
    ):
        return response
    return stream_within(
        response,
        lambda: token_scope(info),
        "A view behind a bearer token streams an asynchronous iterator; it cannot run "
        "as the token's organization. Stream a synchronous iterator.",
    )


def _user(user_id: str | None) -> Any:
    if user_id is None:
        return AnonymousUser()
    user = user_by_pk(user_id)
    if user is None:  # deleted since its token validated
        raise get_user_model().DoesNotExist(f"no user {user_id}")
    return user


def require_oauth(
    *scopes: str, resource: str | None = None, dpop: bool | None = None
) -> Callable[[View], View]:
    """Require a valid access token for ``resource`` (default: ``BEEP_IAM["OAUTH2_RESOURCE"]``)
    holding every scope in ``scopes``; ``dpop=True``: a DPoP-bound one (default
    ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                info = authenticate_bearer(request, scopes, resource, dpop=dpop)
            except BearerError as refused:
                return refused.response()
            request.oauth_token = info  # type: ignore[attr-defined]
            request.user = token_user(info)
            with token_scope(info):
                response = view(request, *args, **kwargs)
            return stream_as_token(info, response)

        return wrapped

    return decorator
