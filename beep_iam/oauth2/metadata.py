"""RFC 7591 client metadata: the wire names and their columns, better-auth's defaults, the
caps on a request, and RFC 7591's errors. Shared by dynamic registration
(:mod:`beep_iam.oauth2.registration`) and Client ID Metadata Documents
(:mod:`beep_iam.oauth2.cimd`); every rule on the values themselves is the services'
(``build_client`` -> ``full_clean()`` -> ``beep_iam.validators``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.core.exceptions import ValidationError

from beep_iam import validators as rules
from beep_iam.choices import GrantType, ResponseType, SubjectType, TokenEndpointAuthMethod
from beep_iam.conf import SIGNING_ALGORITHMS, iam_settings
from beep_iam.models import OAuthClient
from beep_iam.oauth2 import jose
from beep_iam.oauth2.text import printable

# Caps on a registration request, on top of the field caps of beep_iam.validators
# (MAX_REDIRECT_URIS, MAX_URI_LENGTH, MAX_CONTACTS, MAX_SCOPES...): far above a real client.
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_LENGTH = rules.MAX_CLIENT_NAME_LENGTH  # client_name, software_id, software_version
MAX_SOFTWARE_STATEMENT_LENGTH = 8192
MAX_JWKS_BYTES = 16 * 1024
MAX_JWKS_KEYS = 10
MAX_SCOPE_PARAMETER_LENGTH = rules.MAX_SCOPES * (rules.MAX_SCOPE_LENGTH + 1)

logger = logging.getLogger(__name__)

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
#: Metadata without a column of its own, kept in the client's ``metadata`` JSON (where
#: better-auth keeps extensions too) and read with ``OAuthClient.registered``: wire name ->
#: the values this server honours.
KEPT_FIELDS: dict[str, tuple[str, ...]] = {
    # OpenID Connect Dynamic Client Registration 2 (the algorithms of beep_iam.oauth2.keys).
    "id_token_signed_response_alg": SIGNING_ALGORITHMS,
}
#: Kept in ``metadata`` (true) for a client that registered itself (open or signed-in
#: registration): nobody vouches for its redirect URIs (RFC 9700 4.11.2, see
#: ``beep_iam.oauth2.views.authorize``). Not client metadata: never read from a request.
SELF_REGISTERED = "self_registered"
#: Column -> wire name, for the errors of ``full_clean()``.
WIRE_NAMES = {
    **{v: k for k, v in {**TEXT_FIELDS, **LIST_FIELDS, **BOOL_FIELDS}.items()},
    "scopes": "scope",
    "jwks": "jwks",
    "software_statement": "software_statement",
}
#: Server-controlled fields a client may not set about itself (better-auth refuses
#: ``skip_consent`` the same way); other unknown fields are ignored (RFC 7591 2). An update
#: may echo the values it read (RFC 7592 2.2), which are then ignored.
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
        super().__init__(description=printable(description), status_code=status)
        self.error = error


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


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def client_arguments(
    body: dict[str, Any], *, document: bool = False, current: OAuthClient | None = None
) -> dict[str, Any]:
    """``build_client`` arguments from RFC 7591 metadata (a registration request, or a
    Client ID Metadata Document when ``document``), with better-auth's defaults; the types
    and sizes checked here, every other rule by ``full_clean()``. ``current``: the stored
    client an RFC 7592 update replaces."""
    if _holds_nul(body):
        # PostgreSQL text cannot hold NUL: refused here rather than failing at the INSERT.
        raise metadata_error("client metadata must not contain NUL characters")
    # RFC 7592 2.2 has an update send back every field it read, server fields included:
    # those still as read are not a request to set them.
    shown = client_metadata(current) if current is not None else None
    forbidden = sorted(
        name
        for name in SERVER_FIELDS.intersection(body)
        if shown is None or body[name] != shown.get(name)
    )
    if forbidden:
        raise metadata_error(f"{', '.join(forbidden)} cannot be set by the client")
    arguments: dict[str, Any] = {}
    for name, column in TEXT_FIELDS.items():
        limit = rules.MAX_URI_LENGTH if name.endswith("_uri") else MAX_TEXT_LENGTH
        value = _text(body, name, limit)
        if value is not None:
            arguments[column] = value
    if arguments.get("subject_type", SubjectType.PUBLIC) != SubjectType.PUBLIC:
        # Only public subject identifiers are issued (discovery's subject_types_supported):
        # a client registered as pairwise would get the global user id and believe otherwise.
        raise metadata_error("subject_type must be public: no other subject type is issued")
    for name, column in LIST_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RegistrationError(
                "invalid_redirect_uri" if name == "redirect_uris" else ("invalid_client_metadata"),
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
    kept = {}
    for name, honoured in KEPT_FIELDS.items():
        value = body.get(name)
        if value is not None:
            if value not in honoured:
                raise metadata_error(f"{name} must be one of {', '.join(honoured)}")
            kept[name] = value
    if kept:
        arguments["metadata"] = kept
    jwks = body.get("jwks")
    if jwks is not None:
        arguments["jwks"] = jwks_text(jwks)
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


def jwks_text(jwks: object) -> str:
    """``jwks`` as JSON text: a JWK Set of at most MAX_JWKS_KEYS public asymmetric keys."""
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
        if jose.PRIVATE_MEMBERS & key.keys():
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
    error = "invalid_redirect_uri" if wire == "redirect_uris" else "invalid_client_metadata"
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
    for wire in KEPT_FIELDS:
        body[wire] = client.registered(wire)
    for wire, column in (
        ("disabled", "disabled"),
        ("skip_consent", "skip_consent"),
        ("enable_end_session", "enable_end_session"),
        ("require_pkce", "require_pkce"),
        ("reference_id", "reference_id"),
    ):
        body[wire] = getattr(client, column)
    return {k: v for k, v in body.items() if v is not None}


#: The columns a PUT replaces (RFC 7592 2.2: every client metadata field; what is left out
#: is removed or reset to its default).
REPLACED = (
    *TEXT_FIELDS.values(),
    *LIST_FIELDS.values(),
    *BOOL_FIELDS.values(),
    "scopes",
    "jwks",
)


def replace_metadata(row: OAuthClient, replacement: OAuthClient) -> None:
    """Copy what a registration update or a refreshed metadata document says onto ``row``:
    the :data:`REPLACED` columns, and the :data:`KEPT_FIELDS` in its ``metadata`` (those left
    out removed; other keys, which an operator or better-auth set, kept)."""
    for column in REPLACED:
        setattr(row, column, getattr(replacement, column))
    current = row.metadata_object()
    if current is None and row.metadata is not None:
        if replacement.metadata:
            # Not an object (another tool wrote it): no place to keep the fields, and
            # replacing it would lose what that tool stored. The operator's part is logged.
            logger.warning(
                "client %s: its metadata column is not a JSON object; %s cannot be kept until "
                "an operator corrects it",
                row.client_id,
                ", ".join(replacement.metadata),
            )
            raise metadata_error(
                f"{', '.join(replacement.metadata)} cannot be kept for this client now"
            )
        return
    merged = {k: v for k, v in (current or {}).items() if k not in KEPT_FIELDS}
    merged.update(replacement.metadata or {})
    row.metadata = merged or None
