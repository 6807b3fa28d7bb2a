"""What every OAuth endpoint shares: reading parameters, authenticating the client, answering
with RFC 6749 section 5.2 errors.

Errors are Authlib's (``authlib.oauth2.rfc6749.errors``): their bodies and headers
(``Cache-Control: no-store``, ``WWW-Authenticate`` for a 401) are the RFC's. The services'
own errors (``beep_iam.services.oauth_errors``) are translated by :func:`from_service`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from authlib.oauth2.rfc6749 import errors
from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.debug import sensitive_variables

from beep_iam import validators as rules
from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient
from beep_iam.models.oauth import TokenEndpointAuthMethod
from beep_iam.oauth2 import cimd, client_assertion
from beep_iam.oauth2.invalid_client import InvalidClientError
from beep_iam.oauth2.text import printable
from beep_iam.services import oauth_errors
from beep_iam.services.oauth_clients import ReadAlong, authenticate_client

#: Larger token, revocation or introspection requests are refused before they are parsed.
MAX_BODY_BYTES = 16_384
#: Longest accepted parameter value (a redirect URI may take rules.MAX_URI_LENGTH).
MAX_VALUE_LENGTH = 4_096
#: Longest accepted parameter name (the longest any RFC defines is under 40).
MAX_NAME_LENGTH = 128

BASIC = TokenEndpointAuthMethod.CLIENT_SECRET_BASIC.value
POST = TokenEndpointAuthMethod.CLIENT_SECRET_POST.value
NONE = TokenEndpointAuthMethod.NONE.value
PRIVATE_KEY_JWT = TokenEndpointAuthMethod.PRIVATE_KEY_JWT.value

__all__ = ["OAuth2Error"]

logger = logging.getLogger(__name__)


class IssuerMissing(ImproperlyConfigured):
    pass


def discover(client_id: str) -> None:
    """Fetch or refresh a client named by its metadata document URL (CIMD); a document that
    cannot be used makes the client unknown: ``invalid_client``."""
    try:
        cimd.discover(client_id)
    except cimd.DiscoveryError as exc:
        raise invalid_client(exc.description) from None


def issuer() -> str:
    value = iam_settings().oauth2_issuer
    if value is None:
        raise IssuerMissing("The OAuth endpoints need BEEP_IAM['OAUTH2_ISSUER'] (docs/oauth2.md).")
    return value


def needs_issuer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A 503 in RFC 6749's JSON form, not a server error, while no issuer is set or
    ``BEEP_IAM`` does not validate (the checks ``beep_iam.W040`` / ``E001`` say so at start-up,
    but a server that runs no checks, gunicorn, would only meet it here); the operator finds
    the reason in the log."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            issuer()
        except ImproperlyConfigured as exc:  # IssuerMissing, or any bad BEEP_IAM value
            logger.error("%s", exc)
            return json_response(
                {
                    "error": "temporarily_unavailable",
                    "error_description": "the authorization server is not configured",
                },
                status=503,
                headers={"Cache-Control": "no-store", "Retry-After": "60"},
            )
        return view(request, *args, **kwargs)

    return wrapped


def endpoint_url(name: str) -> str:
    """Absolute URL of one of this package's views: the issuer's origin and the view's path
    (the host header plays no part)."""
    origin = "/".join(issuer().split("/", 3)[:3])
    return origin + reverse(f"beep_iam_oauth2:{name}")


#: What ``never_cache`` ends with on these answers (RFC 6749 5.1, 7662 2.2: ``no-store``), set
#: as is: ``never_cache`` merges into any ``Cache-Control`` present by parsing it, which cost
#: more than the rest of a JSON answer (benchmarks/oauth_http.py).
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"
#: RFC 6749 5.1's pair, for the answers of views that :func:`no_store` does not wrap (the
#: resource side's challenges, registration).
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# ``Expires`` of the current second: formatting the date cost as much as the JSON body.
_expires_now: tuple[int, str] = (0, "")


def _expires() -> str:
    global _expires_now
    now = int(time.time())
    second, value = _expires_now
    if second != now:
        value = http_date(now)
        _expires_now = (now, value)
    return value


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``never_cache`` for the token, introspection, revocation and UserInfo endpoints: the
    same headers on every answer, errors included."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = NEVER_CACHE
        response["Pragma"] = "no-cache"
        if "Expires" not in response:
            response["Expires"] = _expires()
        return response

    return wrapped


def json_response(
    body: dict[str, Any], status: int = 200, *, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_response(error: OAuth2Error) -> HttpResponse:
    response = json_response(dict(error.get_body()), status=error.status_code)
    for key, value in error.get_headers():
        response[key] = value
    return response


_FROM_SERVICE: dict[type[oauth_errors.OAuthError], type[OAuth2Error]] = {
    oauth_errors.InvalidClient: InvalidClientError,
    oauth_errors.UnauthorizedClient: errors.UnauthorizedClientError,
    oauth_errors.InvalidGrant: errors.InvalidGrantError,
    oauth_errors.InvalidScope: errors.InvalidScopeError,
    oauth_errors.InvalidRequest: errors.InvalidRequestError,
}


def from_service(exc: oauth_errors.OAuthError) -> OAuth2Error:
    for kind in type(exc).__mro__:
        if kind in _FROM_SERVICE:
            return _FROM_SERVICE[kind](description=printable(exc.description))
    return errors.InvalidRequestError(description=printable(exc.description))


def invalid_client(description: str = "client authentication failed") -> OAuth2Error:
    # 401 and a Basic challenge always, whichever method the client tried (RFC 6749 5.2).
    return InvalidClientError(description=printable(description))


#: Parameters that may be repeated (RFC 8707 ``resource``): their values are joined with a
#: space, which none of them may contain (``beep_iam.oauth2.resources.requested``).
REPEATABLE = frozenset({"resource"})


@sensitive_variables()  # every local holds the request's parameters (secrets among them)
def single_values(data: QueryDict | Iterable[tuple[str, str]]) -> dict[str, str]:
    """The parameters of ``data`` (a ``QueryDict`` or the pairs of a form in order), each at
    most once (RFC 6749 3.1, 3.2) but those of :data:`REPEATABLE`; empty values count as
    absent."""
    if isinstance(data, QueryDict):
        lists = data.lists()
    else:
        grouped: dict[str, list[str]] = {}
        for key, value in data:
            grouped.setdefault(key, []).append(value)
        lists = iter(grouped.items())
    params: dict[str, str] = {}
    for key, values in lists:
        # Names are stored too (a pushed request, a code's query).
        if "\x00" in key:
            raise errors.InvalidRequestError(
                description=printable(f"parameter name {key!r} contains a NUL character")
            )
        if len(key) > MAX_NAME_LENGTH:
            raise errors.InvalidRequestError(
                description=printable(f"parameter name {key[:MAX_NAME_LENGTH]!r}... is malformed")
            )
        if len(values) > 1 and key not in REPEATABLE:
            raise errors.InvalidRequestError(
                description=printable(f"parameter {key!r} is repeated")
            )
        for value in values:
            if "\x00" in value:  # PostgreSQL's text cannot hold it: refused before any lookup
                raise errors.InvalidRequestError(
                    description=printable(f"parameter {key!r} contains a NUL character")
                )
            if len(value) > MAX_VALUE_LENGTH:
                raise errors.InvalidRequestError(
                    description=printable(
                        f"parameter {key!r} is longer than {MAX_VALUE_LENGTH} characters"
                    )
                )
        value = " ".join(v for v in values if v)
        if value != "":
            params[key] = value
    return params


@sensitive_variables()  # the body and its pairs: secrets, tokens, codes
def post_params(request: HttpRequest) -> dict[str, str]:
    """The form parameters of a POST to the token, revocation or introspection endpoint.

    Parameters in the query string are refused, not merged (RFC 6749 3.2 "MUST use POST";
    a query string lands in logs and Referer headers)."""
    if request.META.get("QUERY_STRING"):
        raise errors.InvalidRequestError(
            description="parameters must be sent in the POST body, not in the query string"
        )
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise errors.InvalidRequestError(
            description="the body must be application/x-www-form-urlencoded"
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise errors.InvalidRequestError(description="malformed Content-Length") from None
    if length > MAX_BODY_BYTES:
        raise TooLarge(description=f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        raise TooLarge(description="the request body is too large") from None
    # Parsed here rather than through request.POST: a QueryDict cost about twice as much,
    # and a malformed form gets the RFC's error instead of replacement characters or
    # Django's HTML 400 page. RFC 6749 Appendix B: the form is UTF-8.
    try:
        pairs = parse_qsl(
            body.decode(),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except UnicodeDecodeError:
        raise errors.InvalidRequestError(description="the body is not UTF-8") from None
    except ValueError:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        raise errors.InvalidRequestError(description="the body has too many parameters") from None
    return single_values(pairs)


class TooLarge(errors.InvalidRequestError):
    """``invalid_request`` with 413 (Payload Too Large), as RFC 9126 2.3 says for PAR and HTTP
    for any endpoint."""

    status_code = 413


def scope_list(value: str | None) -> list[str] | None:
    """A ``scope`` parameter as a list (None when absent), validated by the services' rule."""
    if value is None:
        return None
    try:
        return rules.validate_scopes(value.split(" "), field="scope")
    except ValidationError as exc:
        raise errors.InvalidScopeError(description=printable("; ".join(exc.messages))) from None


@sensitive_variables("secret", "header", "decoded", "raw_secret", "credentials", "params")
def authenticate(
    request: HttpRequest,
    params: dict[str, str],
    *,
    along: ReadAlong | None = None,
) -> tuple[OAuthClient, str]:
    """The client authenticated by ``client_secret_basic``, ``client_secret_post``,
    ``private_key_jwt`` or ``none`` (a public client naming itself), and the method used.

    One method per request (RFC 6749 2.3); the method must be the client's registered one
    (a NULL method, from other tools, allows either secret method). The secret check itself
    is ``authenticate_client``'s (which reads ``along``'s row in the client's statement)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    secret: str | None
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client("unsupported authorization scheme; use Basic")
        if params.keys() & {"client_secret", "client_assertion", "client_assertion_type"}:
            raise errors.InvalidRequestError(
                description="use one client authentication method: Basic, or credentials in "
                "the body"
            )
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_client("malformed Basic credentials") from None
        raw_id, colon, raw_secret = decoded.partition(":")
        # RFC 6749 2.3.1: both are form-urlencoded before the Basic encoding.
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if not colon or "\x00" in client_id or "\x00" in secret:
            raise invalid_client("malformed Basic credentials")
        if params.get("client_id", client_id) != client_id:
            raise errors.InvalidRequestError(
                description="client_id in the body differs from the Basic credentials"
            )
        method = BASIC
    elif "client_assertion" in params or "client_assertion_type" in params:
        if "client_secret" in params:
            raise errors.InvalidRequestError(
                description="use one client authentication method, not an assertion and a secret"
            )
        view = request.resolver_match.url_name if request.resolver_match else "token"
        audiences = {endpoint_url(str(view)), issuer()}
        return client_assertion.authenticate(params, audiences), PRIVATE_KEY_JWT
    elif "client_id" in params:
        client_id = params["client_id"]
        secret = params.get("client_secret")
        method = POST if secret is not None else NONE
    else:
        raise invalid_client("client authentication required")
    if method in (BASIC, POST) and not secret:
        # A secret method with no secret: a client without one (a NULL method, from other
        # tools) would otherwise pass as confidential (introspection, no PKCE requirement).
        raise invalid_client()
    discover(client_id)
    try:
        client = authenticate_client(client_id, secret, along=along)
    except oauth_errors.InvalidClient:
        raise invalid_client() from None
    registered = client.token_endpoint_auth_method
    if registered != method and not (registered is None and method in (BASIC, POST)):
        raise invalid_client(f"the client is registered for {registered}, not {method}")
    return client, method


def challenge_params(
    error: str | None,
    description: str | None,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> list[str]:
    """The auth-params of a ``WWW-Authenticate`` challenge, for ``Bearer`` (RFC 6750 section
    3) and ``DPoP`` (RFC 9449 section 7.1) alike, with RFC 9728's ``resource_metadata``."""
    params = []
    if resource_metadata:
        params.append(f'resource_metadata="{resource_metadata}"')
    if error:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{description}"')
        if scope:
            params.append(f'scope="{scope}"')
    return params
