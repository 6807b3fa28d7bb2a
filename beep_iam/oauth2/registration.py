"""Dynamic client registration (RFC 7591) at better-auth's ``/oauth2/register``, and its
management API (RFC 7592) at ``/oauth2/register/<client_id>``.

The request and response are better-auth 1.7's (its ``clientRegistrationRequestSchema`` and
``schemaToOAuth``): the same wire names, the same defaults (``client_secret_basic``,
``["authorization_code"]``, ``["code"]``, ``application_type`` ``web``), the client stored
in ``oauth_client`` as better-auth stores it (secret as its SHA-256 digest, ``scopes`` the
server's registration scopes), so a client registered at either server works at the other.
Every rule on the metadata is the services' (``build_client`` / ``create_client`` ->
``OAuthClient.full_clean()`` -> ``beep_iam.validators``); this module maps wire names to
columns, caps the request, and turns ``ValidationError`` into RFC 7591 errors.

better-auth has no RFC 7592 API and keeps no registration access token. Here one is issued
with every registration and stored only as its digest, in a ``verification`` row (the table
better-auth and this package already use for one-time values: ``identifier`` the digest,
``value`` ``{"type": "registration_access_token", "clientId": ...}``), so no column is added
to better-auth's tables; a client registered at better-auth has none and cannot be managed
here (manage it in the admin).
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from beep_iam.choices import GrantType
from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient, Verification
from beep_iam.models.verification import typed_value
from beep_iam.oauth2 import ratelimit
from beep_iam.oauth2.endpoint import NO_STORE, endpoint_url, error_response, json_response
from beep_iam.oauth2.metadata import (
    MAX_BODY_BYTES,
    SELF_REGISTERED,
    RegistrationError,
    client_arguments,
    client_metadata,
    from_validation,
    metadata_error,
    replace_metadata,
)
from beep_iam.services.oauth_clients import (
    build_client,
    create_client,
    link_registration_defaults,
    rotate_client_secret,
)
from beep_shared import crypto

TOKEN_TYPE = "registration_access_token"
#: A registration access token is replaced by every update (RFC 7592 2.2 allows it).
REGISTRATION_TOKEN_LIFETIME = timedelta(days=365)

# --- the endpoints ---------------------------------------------------------------------------


@sensitive_variables("raw", "body")
def _json_body(request: HttpRequest) -> dict[str, Any]:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise RegistrationError("invalid_request", "the body must be application/json")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY_BYTES + 1
    if length > MAX_BODY_BYTES:
        raise RegistrationError(
            "invalid_request", f"the request body is larger than {MAX_BODY_BYTES} bytes", 413
        )
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise RegistrationError(
            "invalid_request", f"the request body is larger than {MAX_BODY_BYTES} bytes", 413
        )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise metadata_error("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise metadata_error("the body must be a JSON object")
    return body


@sensitive_variables()
def _bearer(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 512:
        raise _invalid_token("malformed Authorization header; use Bearer")
    return token.strip()


class InvalidToken(RegistrationError):
    """401 with RFC 6750's challenge: the initial or registration access token is wrong."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_token", description, 401)

    def get_headers(self) -> list[tuple[str, str]]:
        challenge = f'Bearer error="invalid_token", error_description="{self.description}"'
        return [*super().get_headers(), ("WWW-Authenticate", challenge)]


class TokenRequired(RegistrationError):
    """401 for a request with no token at all: RFC 6750 3.1, the challenge then carries no
    error code (the JSON body still says what is missing)."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_token", description, 401)

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("WWW-Authenticate", "Bearer")]


def _invalid_token(description: str) -> RegistrationError:
    return InvalidToken(description)


def _registrant(request: HttpRequest, body: dict[str, Any]) -> Any:
    """Who registers: the signed-in user (``signed_in``), or nobody; refuses otherwise."""
    mode = iam_settings().oauth2_registration
    if mode is None:
        raise RegistrationError("access_denied", "client registration is disabled", 403)
    if mode == "signed_in":
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            raise InvalidToken("sign in to register a client (registration is for users)")
        return user
    if mode == "initial_access_token":
        token = _bearer(request)
        if token is None:
            raise TokenRequired("an initial access token is required")
        if crypto.digest(token) not in iam_settings().oauth2_initial_access_tokens:
            raise _invalid_token("the initial access token is not valid")
        return None
    # open: nobody vouches for the client, so it gets no machine access (as better-auth).
    if GrantType.CLIENT_CREDENTIALS in (body.get("grant_types") or []):
        raise metadata_error("client_credentials needs an authenticated registration")
    return None


@sensitive_variables("token")
def _issue_registration_token(client_id: str) -> str:
    token = crypto.generate_token(32)
    Verification.objects.create(
        identifier=crypto.digest(token),
        value=json.dumps({"type": TOKEN_TYPE, "clientId": client_id}, separators=(",", ":")),
        expires_at=timezone.now() + REGISTRATION_TOKEN_LIFETIME,
    )
    return token


def _registration_response(
    client: OAuthClient, secret: str | None, token: str, status: int
) -> HttpResponse:
    body = client_metadata(client)
    if secret is not None:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0
    body["registration_access_token"] = token
    body["registration_client_uri"] = _client_uri(client.client_id)
    return json_response(body, status=status, headers=NO_STORE)


def _client_uri(client_id: str) -> str:
    return endpoint_url("register").rstrip("/") + "/" + client_id


@csrf_exempt  # JSON only: a cross-site form cannot send application/json
@never_cache
@require_POST
@ratelimit.limit_ip("register")
@sensitive_variables("registered", "token")
def register(request: HttpRequest) -> HttpResponse:
    try:
        body = _json_body(request)
        user = _registrant(request, body)
        client = build_client(user=user, **client_arguments(body))
        if iam_settings().oauth2_registration != "initial_access_token":
            client.metadata = {**(client.metadata or {}), SELF_REGISTERED: True}
        with transaction.atomic():
            registered = create_client(client)
            link_registration_defaults(registered.client)
            token = _issue_registration_token(registered.client.client_id)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except OAuth2Error as error:
        return error_response(error)
    return _registration_response(registered.client, registered.client_secret, token, 201)


@sensitive_variables("token", "header")
def _managed_client(request: HttpRequest, client_id: str) -> tuple[OAuthClient, Verification, str]:
    """The client the registration access token manages, the token's row and the token; 401
    for anything else (RFC 7592 3: a wrong token and an unknown client look the same)."""
    token = _bearer(request)
    if token is None:
        raise TokenRequired("the registration access token is required")
    row = (
        Verification.objects.unexpired().filter(identifier=crypto.digest(token)).order_by().first()
    )
    value = typed_value(row.value, TOKEN_TYPE) if row is not None else None
    if value is None:
        raise _invalid_token("the registration access token is not valid")
    if value.get("clientId") != client_id:
        raise _invalid_token("the registration access token is not valid for this client")
    client = OAuthClient.objects.filter(client_id=client_id, deleted_at__isnull=True).first()
    if client is None:
        raise _invalid_token("the registration access token is not valid")
    assert row is not None
    return client, row, token


@csrf_exempt
@never_cache
@require_http_methods(["GET", "PUT", "DELETE"])
@ratelimit.limit_ip("register")
@sensitive_variables("token", "secret")
def manage(request: HttpRequest, client_id: str) -> HttpResponse:
    """RFC 7592: read (GET), replace (PUT) and delete (DELETE) a registered client."""
    try:
        if iam_settings().oauth2_registration is None:
            raise RegistrationError("access_denied", "client registration is disabled", 403)
        client, row, token = _managed_client(request, client_id)
        if request.method == "GET":
            # RFC 7592 3: the read response carries the registration access token (the one
            # presented: it is not rotated here) and the client's URI.
            return _registration_response(client, None, token, 200)
        if request.method == "DELETE":
            with transaction.atomic():
                Verification.objects.filter(pk=row.pk).delete()
                client.delete()  # its tokens and consents go with it (ON DELETE CASCADE)
            response = HttpResponse(status=204)
            for key, value in NO_STORE.items():
                response[key] = value
            return response
        body = _json_body(request)
        with transaction.atomic():
            client, secret = _replace(client, body, token)
            Verification.objects.filter(pk=row.pk).delete()
            token = _issue_registration_token(client.client_id)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except OAuth2Error as error:
        return error_response(error)
    return _registration_response(client, secret, token, 200)


@sensitive_variables("secret", "body", "presented", "presented_token", "echoed", "sent")
def _replace(
    client: OAuthClient, body: dict[str, Any], presented_token: str
) -> tuple[OAuthClient, str | None]:
    uri = _client_uri(client.client_id)
    if body.get("client_id") != client.client_id:
        raise metadata_error("client_id must be the registered client_id")
    presented = body.pop("client_secret", None)
    if presented is not None and not crypto.matches(str(presented), client.client_secret):
        raise metadata_error("client_secret does not match the client's secret")
    for ignored in ("client_id", "client_id_issued_at", "client_secret_expires_at"):
        body.pop(ignored, None)
    # RFC 7592 2.2: not the client's to send, but a client that echoes its read (3) sends
    # them as they were; anything else is an attempt to change them.
    echoed = {"registration_access_token": presented_token, "registration_client_uri": uri}
    for server_side, value in echoed.items():
        sent = body.pop(server_side, value)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, value):
            raise metadata_error(f"{server_side} must not be sent")
    if GrantType.CLIENT_CREDENTIALS in (body.get("grant_types") or []) and (
        iam_settings().oauth2_registration == "open"
    ):
        raise metadata_error("client_credentials needs an authenticated registration")
    replacement = build_client(**client_arguments(body, current=client))
    replace_metadata(client, replacement)
    had_secret = client.client_secret is not None
    if not client.uses_secret:
        client.client_secret = None
    client.full_clean()
    client.save()
    secret = rotate_client_secret(client) if client.uses_secret and not had_secret else None
    return client, secret
