"""Cross-origin access (CORS) to the endpoints a browser app calls itself: discovery, keys,
token, PAR, userinfo, revocation, introspection, device authorization, registration and the
protected resource metadata.

Any origin (``*``) and never credentials: these endpoints trust only what a request carries
(client credentials, a bearer or DPoP-bound token, a registration token), never a cookie, so
a page of another origin gains nothing its own server could not do with the same request.
The pages a user sees (authorize and its consent, the device page, end session) are not
opened: they rely on the session cookie and refuse to be framed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpRequest, HttpResponse

#: What a browser may send: client authentication, the bearer or DPoP token and its proof,
#: JSON for registration, the MCP SDK's protocol version on its discovery requests.
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP, MCP-Protocol-Version"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, DELETE"
#: What a browser app must read of an answer: the challenge of a 401, the DPoP nonce to
#: retry with, how long to wait after a 429.
EXPOSED_HEADERS = "WWW-Authenticate, DPoP-Nonce, Retry-After"
PREFLIGHT_MAX_AGE = "86400"


def cross_origin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``) with 204,
    and let any origin read the view's answers."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        else:
            try:
                response = view(request, *args, **kwargs)
            except Http404 as exc:
                # Built here, as Django would build it, so a browser app reads the 404 (MCP
                # clients fall back to another discovery path on it).
                response = response_for_exception(request, exc)
            response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapped
