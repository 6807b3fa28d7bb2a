"""Django REST framework classes for the resource-server side (``pip install beep-iam[drf]``).

```python
from beep_iam.oauth2.drf import OAuth2APIView

class Invoices(OAuth2APIView):
    required_scopes = ["invoices:read"]
    oauth_resource = "https://api.example.com/invoices"  # default: BEEP_IAM["OAUTH2_RESOURCE"]

    def get(self, request):
        request.auth   # AccessTokenInfo: client_id, user_id, scopes, reference_id, ...
        request.user   # the token's user (AnonymousUser for a client_credentials token)
```

or the pieces on a view of your own: ``authentication_classes = [OAuth2Authentication]``,
``permission_classes = [TokenHasScope]`` and :class:`OAuth2TenantMixin` first among the bases.
The token check is :func:`beep_iam.oauth2.resource.authenticate_bearer`, the decorator's;
errors carry RFC 6750's ``WWW-Authenticate``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

try:
    from rest_framework import exceptions
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.permissions import BasePermission
    from rest_framework.request import Request
    from rest_framework.views import APIView
except ImportError as exc:  # pragma: no cover - the dev extra installs it
    raise ImportError(
        "beep_iam.oauth2.drf needs Django REST framework: pip install 'beep-iam[drf]'"
    ) from exc

from beep_iam.oauth2 import dpop as dpop_proofs
from beep_iam.oauth2.resource import (
    BearerError,
    authenticate_bearer,
    check_scopes,
    protected_resource,
    stream_as_token,
    token_scope,
    token_user,
)
from beep_iam.oauth2.resource_metadata import metadata_url
from beep_iam.oauth2.views import bearer_challenge
from beep_iam.services.oauth_tokens import AccessTokenInfo

_REFUSAL = "_beep_bearer_refusal"


def _resource(request: Request | None, view: Any = None) -> str | None:
    """The resource the view protects: its ``oauth_resource``, else the setting."""
    if view is None and request is not None:
        view = (getattr(request, "parser_context", None) or {}).get("view")
    return getattr(view, "oauth_resource", None)


class OAuth2Authentication(BaseAuthentication):
    """``Authorization: Bearer <access token>`` (or ``DPoP <access token>`` with its proof):
    ``request.user`` is the token's user, ``request.auth`` the :class:`AccessTokenInfo`.
    Without such a header it stands aside (``None``), so other authentication classes may
    try. A view with ``dpop_required = True`` refuses bearer tokens."""

    def authenticate(self, request: Request) -> tuple[Any, AccessTokenInfo] | None:
        try:
            if dpop_proofs.presentation(request._request) is None:
                return None
        except dpop_proofs.MalformedPresentation as malformed:
            raise exceptions.ParseError(str(malformed)) from None  # RFC 6750 3.1: 400
        view = (getattr(request, "parser_context", None) or {}).get("view")
        try:
            info = authenticate_bearer(
                request._request,
                resource=_resource(request),
                dpop=getattr(view, "dpop_required", None),
            )
        except BearerError as refused:
            setattr(request._request, _REFUSAL, refused)
            raise exceptions.AuthenticationFailed(refused.description) from None
        request._request.oauth_token = info
        return token_user(info), info

    def authenticate_header(self, request: Request) -> str:
        refused = getattr(request._request, _REFUSAL, None)
        if refused is not None:
            return refused.challenge
        resource = protected_resource(_resource(request))
        where = metadata_url(resource) if resource else None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        required = getattr(view, "dpop_required", None)
        if required is None:
            required = dpop_proofs.conf().required_at_resource
        if required:
            return dpop_proofs.challenge(resource_metadata=where)
        return bearer_challenge(None, None, resource_metadata=where)


class InsufficientScope(exceptions.PermissionDenied):
    def __init__(self, refused: BearerError) -> None:
        super().__init__(refused.description, code="insufficient_scope")
        # DRF's exception handler sends it as WWW-Authenticate (RFC 6750 3.1 on a 403).
        self.auth_header = refused.challenge


class TokenHasScope(BasePermission):
    """The request's OAuth token holds every scope of the view's ``required_scopes`` (and
    of ``required_scopes_<method>``, e.g. ``required_scopes_post``, when the view sets it).
    A request without an OAuth token is refused (401 when it is not authenticated at all)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        info = request.auth
        if not isinstance(info, AccessTokenInfo):
            return False
        scopes = [
            *getattr(view, "required_scopes", ()),
            *getattr(view, f"required_scopes_{(request.method or '').lower()}", ()),
        ]
        try:
            check_scopes(info, scopes, _resource(request, view))
        except BearerError as refused:
            raise InsufficientScope(refused) from None
        return True


class OAuth2TenantMixin:
    """Runs the permission and throttle checks and the handler as the organization the
    token was granted for (row level security), as ``require_oauth`` does; put it before
    ``APIView`` among the bases."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._beep_token: AccessTokenInfo | None = None
        with ExitStack() as stack:
            self._beep_tenant = stack
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        if self._beep_token is not None:
            # A streamed body is produced after the handler: in the token's scope too.
            return stream_as_token(self._beep_token, response)
        return response

    def perform_authentication(self, request: Request) -> None:
        # APIView.initial authenticates, then checks permissions and throttles: those run
        # in the token's scope too (a permission that reads tenant rows decides as the
        # token's organization, not a session cookie's sent along).
        super().perform_authentication(request)  # type: ignore[misc]
        info = request.auth
        if isinstance(info, AccessTokenInfo):
            self._beep_token = info
            self._beep_tenant.enter_context(token_scope(info))


class OAuth2APIView(OAuth2TenantMixin, APIView):
    """An APIView that takes OAuth bearer tokens only and checks ``required_scopes``."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes: list[str] = []
    #: The resource identifier (RFC 8707) tokens must be for; None: the setting's.
    oauth_resource: str | None = None
    #: Refuse bearer tokens: DPoP-bound ones only (default ``OAUTH2_DPOP["REQUIRED_AT_RESOURCE"]``).
    dpop_required: bool | None = None

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        refused = getattr(
            request._request if isinstance(request, Request) else request, _REFUSAL, None
        )
        if refused is not None and refused.nonce is not None:
            response["DPoP-Nonce"] = refused.nonce  # RFC 9449 9: with use_dpop_nonce
        return response
