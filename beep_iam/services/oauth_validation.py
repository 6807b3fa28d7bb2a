"""Validation rules for OAuth client metadata and scopes.

Each function raises ``ValidationError`` keyed by the field, with a message naming the rule
and the offending value. ``OAuthClient.clean()`` runs them too, so admin edits obey the same
rules as registration.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from beep_iam.models.oauth import GrantType, ResponseType, TokenEndpointAuthMethod

if TYPE_CHECKING:
    from beep_iam.models import OAuthClient

LOOPBACK_HOSTS = frozenset({"localhost"})


def _error(field: str, message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code, params=params)})


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: object, field: str = "redirect_uris") -> str:
    """Absolute, no fragment, https; plain http only for loopback hosts (RFC 8252 7.3)."""
    if not isinstance(uri, str) or not uri or uri != uri.strip():
        raise _error(field, "%(uri)r is not a URI string.", "invalid_uri", uri=uri)
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise _error(field, "%(uri)r is not a valid URI.", "invalid_uri", uri=uri) from None
    if not parts.scheme or not host:
        raise _error(
            field,
            "%(uri)r must be an absolute URI with a scheme and a host.",
            "redirect_uri_not_absolute",
            uri=uri,
        )
    if "#" in uri:
        raise _error(
            field, "%(uri)r must not contain a fragment.", "redirect_uri_fragment", uri=uri
        )
    scheme = parts.scheme.lower()
    if scheme == "https":
        return uri
    if scheme == "http" and _is_loopback(host):
        return uri
    raise _error(
        field,
        "%(uri)r must use https (plain http is allowed only for loopback hosts).",
        "redirect_uri_insecure",
        uri=uri,
    )


def validate_redirect_uris(
    uris: object, field: str = "redirect_uris", *, required: bool = True
) -> list[str]:
    if uris is None and not required:
        return []
    if isinstance(uris, str) or not isinstance(uris, Iterable):
        raise _error(field, "must be a list of URIs.", "not_a_list")
    result = [validate_redirect_uri(uri, field) for uri in uris]
    if required and not result:
        raise _error(field, "at least one redirect URI is required.", "required")
    return result


def validate_scopes(
    scopes: object, field: str = "scopes", *, allow_empty: bool = False
) -> list[str]:
    """Scope tokens (RFC 6749 3.3): non-empty, printable ASCII without spaces, quotes or '\\'."""
    if isinstance(scopes, str) or not isinstance(scopes, Iterable):
        raise _error(field, "must be a list of scope strings.", "not_a_list")
    result: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not scope:
            raise _error(field, "%(scope)r is not a non-empty scope.", "invalid_scope", scope=scope)
        if any(ch in ' "\\' or not 0x21 <= ord(ch) <= 0x7E for ch in scope):
            raise _error(
                field,
                "scope %(scope)r must be printable ASCII without spaces, quotes or backslashes.",
                "invalid_scope",
                scope=scope,
            )
        if scope not in result:
            result.append(scope)
    if not result and not allow_empty:
        raise _error(field, "at least one scope is required.", "required")
    return result


def validate_choices(values: object, field: str, allowed: Sequence[str]) -> list[str]:
    """Every value must be one of ``allowed``; unknown values are named in the error."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise _error(field, "must be a list.", "not_a_list")
    result = list(dict.fromkeys(values))
    unknown = [v for v in result if v not in allowed]
    if unknown:
        raise _error(
            field,
            "unknown value(s) %(unknown)s; allowed: %(allowed)s.",
            "unknown_value",
            unknown=", ".join(repr(v) for v in unknown),
            allowed=", ".join(allowed),
        )
    return result


def validate_auth_method(method: object) -> str:
    allowed = TokenEndpointAuthMethod.values
    if method not in allowed:
        raise _error(
            "token_endpoint_auth_method",
            "unknown value %(value)r; allowed: %(allowed)s.",
            "unknown_value",
            value=method,
            allowed=", ".join(allowed),
        )
    return str(method)


def validate_grant_types(values: object) -> list[str]:
    return validate_choices(values, "grant_types", GrantType.values)


def validate_response_types(values: object) -> list[str]:
    return validate_choices(values, "response_types", ResponseType.values)


def validate_client_fields(client: OAuthClient) -> None:
    """All client rules at once, errors collected per field (used by ``clean()``)."""
    errors: dict[str, list[ValidationError]] = {}

    def collect(check: Any, *args: Any, **kwargs: Any) -> None:
        try:
            check(*args, **kwargs)
        except ValidationError as exc:
            for field, field_errors in exc.error_dict.items():
                errors.setdefault(field, []).extend(field_errors)

    # Redirects matter only to the authorization_code grant (NULL grant_types: unrestricted).
    needs_redirect = (
        client.grant_types is None or GrantType.AUTHORIZATION_CODE in client.grant_types
    )
    collect(validate_redirect_uris, client.redirect_uris, required=needs_redirect)
    if client.post_logout_redirect_uris:
        collect(
            validate_redirect_uris,
            client.post_logout_redirect_uris,
            "post_logout_redirect_uris",
            required=False,
        )
    if client.token_endpoint_auth_method is not None:
        collect(validate_auth_method, client.token_endpoint_auth_method)
    if client.grant_types is not None:
        collect(validate_grant_types, client.grant_types)
    if client.response_types is not None:
        collect(validate_response_types, client.response_types)
    if client.scopes is not None:
        collect(validate_scopes, client.scopes, allow_empty=True)
    if client.client_credentials_scopes is not None:
        collect(
            validate_scopes,
            client.client_credentials_scopes,
            "client_credentials_scopes",
            allow_empty=True,
        )
    if errors:
        raise ValidationError(errors)
