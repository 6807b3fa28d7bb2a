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

from beep_iam import validators as rules
from beep_iam.choices import GrantType, ResponseType, TokenEndpointAuthMethod
from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient, Verification
from beep_iam.oauth2 import ratelimit
from beep_iam.oauth2.endpoint import endpoint_url, error_response, json_response
from beep_iam.services.oauth_clients import (
    build_client,
    create_client,
    rotate_client_secret,
    uses_secret,
)
from beep_shared import secrets

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_TYPE = "registration_access_token"
#: A registration access token is replaced by every update (RFC 7592 2.2 allows it).
REGISTRATION_TOKEN_LIFETIME = timedelta(days=365)

# Caps on a registration request, on top of the field caps of beep_iam.validators
# (MAX_REDIRECT_URIS, MAX_URI_LENGTH, MAX_CONTACTS, MAX_SCOPES...): far above a real client.
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_LENGTH = 255  # client_name, software_id, software_version
MAX_SOFTWARE_STATEMENT_LENGTH = 8192
MAX_JWKS_BYTES = 16 * 1024
MAX_JWKS_KEYS = 10
MAX_SCOPE_PARAMETER_LENGTH = rules.MAX_SCOPES * (rules.MAX_SCOPE_LENGTH + 1)

#: Wire name -> column, for the metadata a client sets itself (better-auth's oauthToSchema).
TEXT_FIELDS = {
    "client_name": "name",
    "client_uri": "uri",
    "logo_uri": "icon",
    "tos_uri": "tos",
    "policy_uri": "policy",
    "software_id": "software_id",
    "software_version": "software_version",
    "jwks_uri": "jwks_uri",
    "backchannel_logout_uri": "backchannel_logout_uri",
    "token_endpoint_auth_method": "token_endpoint_auth_method",
    "application_type": "application_type",
    "subject_type": "subject_type",
}
LIST_FIELDS = {
    "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "contacts": "contacts",
    "grant_types": "grant_types",
    "response_types": "response_types",
}
BOOL_FIELDS = {
    "backchannel_logout_session_required": "backchannel_logout_session_required",
    "dpop_bound_access_tokens": "dpop_bound_access_tokens",
}
#: Column -> wire name, for the errors of ``full_clean()``.
WIRE_NAMES = {
    **{v: k for k, v in {**TEXT_FIELDS, **LIST_FIELDS, **BOOL_FIELDS}.items()},
    "scopes": "scope",
    "jwks": "jwks",
    "software_statement": "software_statement",
}
#: Server-controlled fields a client may not set about itself (better-auth refuses
#: ``skip_consent`` the same way); other unknown fields are ignored (RFC 7591 2).
SERVER_FIELDS = frozenset(
    {
        "skip_consent",
        "enable_end_session",
        "require_pkce",
        "disabled",
        "reference_id",
        "user_id",
        "client_credentials_scopes",
    }
)


class RegistrationError(OAuth2Error):
    """An RFC 7591 3.2.2 error (400 unless said)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description=_printable(description), status_code=status)
        self.error = error


def _printable(description: str) -> str:
    """``description`` in the characters RFC 6749 allows in ``error_description`` (no '"' or
    '\\'), as Authlib requires."""
    text = description.replace('"', "'").replace("\\", "/")
    return "".join(ch if 0x20 <= ord(ch) <= 0x7E else "?" for ch in text)[:500]


def metadata_error(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise metadata_error(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise metadata_error(f"{name} may have at most {limit} characters")
    return value


def client_arguments(body: dict[str, Any], *, document: bool = False) -> dict[str, Any]:
    """``build_client`` arguments from RFC 7591 metadata (a registration request, or a
    Client ID Metadata Document when ``document``), with better-auth's defaults; the types
    and sizes checked here, every other rule by ``full_clean()``."""
    forbidden = sorted(SERVER_FIELDS.intersection(body))
    if forbidden:
        raise metadata_error(f"{', '.join(forbidden)} cannot be set by the client")
    arguments: dict[str, Any] = {}
    for name, column in TEXT_FIELDS.items():
        limit = rules.MAX_URI_LENGTH if name.endswith("_uri") else MAX_TEXT_LENGTH
        value = _text(body, name, limit)
        if value is not None:
            arguments[column] = value
    for name, column in LIST_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RegistrationError(
                "invalid_redirect_uri"
                if name.endswith("redirect_uris")
                else ("invalid_client_metadata"),
                f"{name} must be an array of strings",
            )
        arguments[column] = value  # counts and lengths: the validators
    for name, column in BOOL_FIELDS.items():
        value = body.get(name)
        if value is not None:
            if not isinstance(value, bool):
                raise metadata_error(f"{name} must be a boolean")
            arguments[column] = value
    statement = _text(body, "software_statement", MAX_SOFTWARE_STATEMENT_LENGTH)
    if statement is not None:
        if statement.count(".") != 2:
            raise RegistrationError(
                "invalid_software_statement", "software_statement must be a signed JWT"
            )
        # No software statement issuer is trusted here, so none is approved (RFC 7591 3.2.2).
        raise RegistrationError(
            "unapproved_software_statement", "this server approves no software statements"
        )
    jwks = body.get("jwks")
    if jwks is not None:
        arguments["jwks"] = _jwks_text(jwks)
    arguments["scopes"] = _scopes(body.get("scope"))
    method = arguments.setdefault(
        "token_endpoint_auth_method",
        TokenEndpointAuthMethod.NONE if document else TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
    )
    grants = arguments.setdefault("grant_types", [GrantType.AUTHORIZATION_CODE])
    if not isinstance(grants, list) or not grants:
        raise metadata_error("grant_types must contain at least one grant type")
    if "response_types" not in arguments:
        arguments["response_types"] = (
            [ResponseType.CODE] if GrantType.AUTHORIZATION_CODE in grants else []
        )
    if not document:
        arguments.setdefault("application_type", "web")
    if method == TokenEndpointAuthMethod.PRIVATE_KEY_JWT and not (
        arguments.get("jwks") or arguments.get("jwks_uri")
    ):
        raise metadata_error("private_key_jwt needs jwks or jwks_uri")
    if "redirect_uris" not in arguments:
        arguments["redirect_uris"] = []
    return arguments


def _jwks_text(jwks: object) -> str:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise metadata_error("jwks must be a JWK Set object with a non-empty keys array")
    if len(jwks["keys"]) > MAX_JWKS_KEYS:
        raise metadata_error(f"jwks may hold at most {MAX_JWKS_KEYS} keys")
    text = json.dumps(jwks, separators=(",", ":"))
    if len(text.encode()) > MAX_JWKS_BYTES:
        raise metadata_error(f"jwks may hold at most {MAX_JWKS_BYTES} bytes of JSON")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
            raise metadata_error("jwks must contain only public asymmetric keys")
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")):
            raise metadata_error("jwks must contain only public keys")
    return text


def _scopes(scope: object) -> list[str]:
    """The requested scopes (a subset of the registration scopes), or all of them."""
    allowed = list(iam_settings().oauth2_registration_scopes)
    if scope is None:
        return allowed
    if not isinstance(scope, str) or len(scope) > MAX_SCOPE_PARAMETER_LENGTH:
        raise metadata_error("scope must be a space-separated string of scopes")
    try:
        requested = rules.validate_scopes(scope.split(" "), field="scope")
    except ValidationError as exc:
        raise metadata_error("; ".join(exc.messages)) from None
    extra = [s for s in requested if s not in allowed]
    if extra:
        raise RegistrationError(
            "invalid_client_metadata",
            f"scope(s) {', '.join(extra)} may not be registered; allowed: {' '.join(allowed)}",
        )
    return requested


def from_validation(exc: ValidationError) -> RegistrationError:
    """The first broken rule of ``full_clean()`` as an RFC 7591 error naming the wire field."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    field, messages = next(iter(errors.items()))
    wire = WIRE_NAMES.get(field, field)
    error = "invalid_redirect_uri" if wire.endswith("redirect_uris") else "invalid_client_metadata"
    others = [WIRE_NAMES.get(f, f) for f in errors if f != field]
    also = f" (also invalid: {', '.join(others)})" if others else ""
    return RegistrationError(error, f"{wire}: {' '.join(messages)}{also}")


def client_metadata(client: OAuthClient) -> dict[str, Any]:
    """The client as RFC 7591 metadata, better-auth's ``schemaToOAuth`` fields (absent
    values left out)."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()) if client.created_at else None,
        "scope": " ".join(client.scopes) if client.scopes else None,
        "user_id": str(client.user_id) if client.user_id else None,
        "jwks": json.loads(client.jwks) if client.jwks else None,
        "software_statement": client.software_statement,
        "redirect_uris": list(client.redirect_uris or []),
    }
    for wire, column in {**TEXT_FIELDS, **LIST_FIELDS, **BOOL_FIELDS}.items():
        if wire not in body:
            body[wire] = getattr(client, column)
    for wire, column in (
        ("disabled", "disabled"),
        ("skip_consent", "skip_consent"),
        ("enable_end_session", "enable_end_session"),
        ("require_pkce", "require_pkce"),
        ("reference_id", "reference_id"),
    ):
        body[wire] = getattr(client, column)
    return {k: v for k, v in body.items() if v is not None}


# --- the endpoints ---------------------------------------------------------------------------


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
            raise _invalid_token("an initial access token is required")
        if secrets.digest(token) not in iam_settings().oauth2_initial_access_tokens:
            raise _invalid_token("the initial access token is not valid")
        return None
    # open: nobody vouches for the client, so it gets no machine access (as better-auth).
    if GrantType.CLIENT_CREDENTIALS in (body.get("grant_types") or []):
        raise metadata_error("client_credentials needs an authenticated registration")
    return None


@sensitive_variables("token")
def _issue_registration_token(client_id: str) -> str:
    token = secrets.generate_token(32)
    Verification.objects.create(
        identifier=secrets.digest(token),
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
        with transaction.atomic():
            registered = create_client(client)
            token = _issue_registration_token(registered.client.client_id)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except OAuth2Error as error:
        return error_response(error)
    return _registration_response(registered.client, registered.client_secret, token, 201)


def _managed_client(request: HttpRequest, client_id: str) -> tuple[OAuthClient, Verification]:
    """The client the registration access token manages; 401 for anything else (RFC 7592 3:
    a wrong token and an unknown client look the same)."""
    token = _bearer(request)
    if token is None:
        raise _invalid_token("the registration access token is required")
    row = (
        Verification.objects.unexpired().filter(identifier=secrets.digest(token)).order_by().first()
    )
    try:
        value = json.loads(row.value) if row is not None else {}
    except ValueError:
        value = {}
    if not isinstance(value, dict) or value.get("type") != TOKEN_TYPE:
        raise _invalid_token("the registration access token is not valid")
    if value.get("clientId") != client_id:
        raise _invalid_token("the registration access token is not valid for this client")
    client = OAuthClient.objects.filter(client_id=client_id, deleted_at__isnull=True).first()
    if client is None:
        raise _invalid_token("the registration access token is not valid")
    assert row is not None
    return client, row


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
        client, row = _managed_client(request, client_id)
        if request.method == "GET":
            return json_response(client_metadata(client), headers=NO_STORE)
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
            client, secret = _replace(client, body)
            Verification.objects.filter(pk=row.pk).delete()
            token = _issue_registration_token(client.client_id)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except OAuth2Error as error:
        return error_response(error)
    return _registration_response(client, secret, token, 200)


#: The columns a PUT replaces (RFC 7592 2.2: every client metadata field; what is left out
#: is removed or reset to its default).
REPLACED = (
    *TEXT_FIELDS.values(),
    *LIST_FIELDS.values(),
    *BOOL_FIELDS.values(),
    "scopes",
    "jwks",
)


@sensitive_variables("secret", "body")
def _replace(client: OAuthClient, body: dict[str, Any]) -> tuple[OAuthClient, str | None]:
    if body.get("client_id") != client.client_id:
        raise metadata_error("client_id must be the registered client_id")
    presented = body.pop("client_secret", None)
    if presented is not None and not secrets.matches(str(presented), client.client_secret):
        raise metadata_error("client_secret does not match the client's secret")
    for ignored in ("client_id", "client_id_issued_at", "client_secret_expires_at"):
        body.pop(ignored, None)
    for server_side in ("registration_access_token", "registration_client_uri"):
        if server_side in body:
            raise metadata_error(f"{server_side} must not be sent")
    if GrantType.CLIENT_CREDENTIALS in (body.get("grant_types") or []) and (
        iam_settings().oauth2_registration == "open"
    ):
        raise metadata_error("client_credentials needs an authenticated registration")
    replacement = build_client(**client_arguments(body))
    for column in REPLACED:
        setattr(client, column, getattr(replacement, column))
    had_secret = client.client_secret is not None
    if not uses_secret(client):
        client.client_secret = None
    client.full_clean()
    client.save()
    secret = rotate_client_secret(client) if uses_secret(client) and not had_secret else None
    return client, secret
