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
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from beep_iam.oauth2.views import _bearer_challenge, bearer_token
from beep_iam.services.oauth_tokens import validate_access_token
from beep_shared.rls import tenant_context
from beep_shared.rls.context import organization_id

View = Callable[..., HttpResponse]


def _user(user_id: str | None) -> Any:
    if user_id is None:
        return AnonymousUser()
    return get_user_model().objects.get(pk=user_id)


def require_oauth(*scopes: str) -> Callable[[View], View]:
    """Require a valid bearer token holding every scope in ``scopes``."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            raw = bearer_token(request)
            if raw is None:
                return _bearer_challenge(None, None, 401)
            info = validate_access_token(raw)
            if info is None:
                return _bearer_challenge("invalid_token", "the access token is invalid", 401)
            missing = [s for s in scopes if s not in info.scopes]
            if missing:
                response = _bearer_challenge(
                    "insufficient_scope", f"scope(s) {' '.join(missing)} required", 403
                )
                response["WWW-Authenticate"] += f', scope="{" ".join(scopes)}"'
                return response
            request.oauth_token = info  # type: ignore[attr-defined]
            request.user = SimpleLazyObject(lambda: _user(info.user_id))  # type: ignore[assignment]
            try:
                tenant = organization_id(info.reference_id)
            except ValidationError:
                tenant = None  # granted for something else than an organization: no tenant
            if tenant is None:
                return view(request, *args, **kwargs)
            with tenant_context(tenant):
                return view(request, *args, **kwargs)

        return wrapped

    return decorator
