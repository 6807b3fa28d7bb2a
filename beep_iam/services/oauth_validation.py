"""Validation rules for OAuth client metadata and scopes.

Each function raises ``ValidationError`` keyed by the field, with a message naming the rule
and the offending value. ``OAuthClient.clean()`` runs them too, so admin edits obey the same
rules as registration.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from beep_iam.models.oauth import GrantType, ResponseType, TokenEndpointAuthMethod
from beep_iam.services.remote_hosts import internal_host_reason

if TYPE_CHECKING:
    from beep_iam.models import OAuthClient

LOOPBACK_HOSTS = frozenset({"localhost"})
_SCOPE_RE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # NQCHAR without space, '"', '\\'

# Caps on client metadata and requests (README, "OAuth services"): far above any real
# client, low enough that a request cannot make validation or storage expensive.
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 200
MAX_REDIRECT_URIS = 50
MAX_URI_LENGTH = 2000
MAX_CONTACTS = 20
MAX_CONTACT_LENGTH = 320
MAX_METADATA_BYTES = 16_384


def _error(field: str, message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code, params=params)})


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown(value: object) -> str:
    """``repr`` of a value for a message, cut to about 100 characters."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:97]}..."


def _bounded_list(values: object, field: str, limit: int, what: str) -> list[Any]:
    """``values`` as a list, refused before it is read in full when it has over ``limit``."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise _error(field, "must be a list of %(what)s.", "not_a_list", what=what)
    result = list(itertools.islice(values, limit + 1))
    if len(result) > limit:
        raise _error(
            field, "at most %(limit)d %(what)s are allowed.", "too_many", limit=limit, what=what
        )
    return result


def _absolute_uri(uri: object, field: str, what: str) -> tuple[str, Any]:
    """``uri`` and its parts: a string of at most ``MAX_URI_LENGTH`` characters, without
    spaces, control characters, backslashes or userinfo, with a scheme and a host."""
    if not isinstance(uri, str) or not uri or uri != uri.strip():
        raise _error(field, "%(uri)s is not a URI string.", "invalid_uri", uri=_shown(uri))
    if len(uri) > MAX_URI_LENGTH:
        raise _error(
            field,
            "%(what)s may have at most %(limit)d characters (%(uri)s).",
            "uri_too_long",
            what=what,
            limit=MAX_URI_LENGTH,
            uri=_shown(uri),
        )
    if "\\" in uri:
        # Browsers read http://evil.com\@localhost/ as evil.com.
        raise _error(
            field,
            "%(uri)s must not contain backslashes.",
            "redirect_uri_forbidden_character",
            uri=_shown(uri),
        )
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in uri):
        raise _error(
            field,
            "%(uri)s must not contain spaces or control characters.",
            "invalid_uri",
            uri=_shown(uri),
        )
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise _error(field, "%(uri)s is not a valid URI.", "invalid_uri", uri=_shown(uri)) from None
    if not parts.scheme or not host:
        raise _error(
            field,
            "%(uri)s must be an absolute URI with a scheme and a host.",
            "redirect_uri_not_absolute",
            uri=_shown(uri),
        )
    if "@" in parts.netloc:
        raise _error(
            field,
            "%(uri)s must not contain userinfo (user@ before the host).",
            "redirect_uri_userinfo",
            uri=_shown(uri),
        )
    return uri, parts


def _secure_scheme(uri: str, parts: Any, field: str) -> str:
    """https; plain http only for loopback hosts (RFC 8252 7.3). Refuses ``javascript:``,
    ``data:`` and every other scheme."""
    scheme = parts.scheme.lower()
    if scheme == "https":
        return uri
    if scheme == "http" and _is_loopback(parts.hostname or ""):
        return uri
    raise _error(
        field,
        "%(uri)s must use https (plain http is allowed only for loopback hosts).",
        "redirect_uri_insecure",
        uri=_shown(uri),
    )


def validate_redirect_uri(uri: object, field: str = "redirect_uris") -> str:
    """Absolute, no fragment, https; plain http only for loopback hosts (RFC 8252 7.3).

    No wildcards, backslashes or userinfo: a redirect URI is compared exactly
    (:func:`beep_iam.services.oauth_clients.match_redirect_uri`), and browsers resolve
    ``http://evil.com\\@localhost/`` to evil.com."""
    if isinstance(uri, str) and "*" in uri:
        raise _error(
            field,
            "%(uri)s must not contain %(rule)s: redirect URIs are matched exactly.",
            "redirect_uri_forbidden_character",
            uri=_shown(uri),
            rule="wildcards",
        )
    uri, parts = _absolute_uri(uri, field, "a redirect URI")
    if "#" in uri:
        raise _error(
            field, "%(uri)s must not contain a fragment.", "redirect_uri_fragment", uri=_shown(uri)
        )
    return _secure_scheme(uri, parts, field)


def validate_web_uri(uri: object, field: str) -> str:
    """A URI pages link to or load (a client's home page, icon, terms, policy): https, or
    http for loopback hosts, as redirect URIs; never ``javascript:`` or ``data:``."""
    uri, parts = _absolute_uri(uri, field, "a URI")
    return _secure_scheme(uri, parts, field)


def validate_fetch_uri(uri: object, field: str) -> str:
    """A URI this server fetches or calls (``jwks_uri``, ``backchannel_logout_uri``): https
    to a public host; no literal private, loopback or link-local address, no ``localhost``
    or other internal name (``remote_hosts.internal_host_reason``, the one host rule)."""
    uri, parts = _absolute_uri(uri, field, "a URI")
    if parts.scheme.lower() != "https":
        raise _error(field, "%(uri)s must be an https URI.", "uri_insecure", uri=_shown(uri))
    reason = internal_host_reason(parts.hostname or "")
    if reason:
        raise _error(
            field,
            "%(uri)s must name a public host this server may fetch from: %(reason)s.",
            "uri_internal_host",
            uri=_shown(uri),
            reason=reason,
        )
    return uri


# Client metadata by the rule it follows (``validate_client_fields``).
WEB_URI_FIELDS = ("uri", "icon", "tos", "policy")
FETCH_URI_FIELDS = ("jwks_uri", "backchannel_logout_uri")


def validate_redirect_uris(
    uris: object, field: str = "redirect_uris", *, required: bool = True
) -> list[str]:
    if uris is None and not required:
        return []
    result = [
        validate_redirect_uri(uri, field)
        for uri in _bounded_list(uris, field, MAX_REDIRECT_URIS, "URIs")
    ]
    if required and not result:
        raise _error(field, "at least one redirect URI is required.", "required")
    return result


def validate_scopes(
    scopes: object, field: str = "scopes", *, allow_empty: bool = False
) -> list[str]:
    """Scope tokens (RFC 6749 3.3): non-empty, printable ASCII without spaces, quotes or '\\'.

    A list (or other iterable) of at most ``MAX_SCOPES`` tokens; a string is refused, not
    split into characters. Duplicates are dropped, order kept. Linear in the input."""
    if isinstance(scopes, str):
        raise _error(
            field,
            "must be a list of scope strings, not the string %(value)s.",
            "not_a_list",
            value=_shown(scopes),
        )
    result: dict[str, None] = {}
    for scope in _bounded_list(scopes, field, MAX_SCOPES, "scopes"):
        if not isinstance(scope, str) or not scope:
            raise _error(
                field, "%(scope)s is not a non-empty scope.", "invalid_scope", scope=_shown(scope)
            )
        if len(scope) > MAX_SCOPE_LENGTH:
            raise _error(
                field,
                "a scope may have at most %(limit)d characters (%(scope)s).",
                "scope_too_long",
                limit=MAX_SCOPE_LENGTH,
                scope=_shown(scope),
            )
        if not _SCOPE_RE.fullmatch(scope):
            raise _error(
                field,
                "scope %(scope)s must be printable ASCII without spaces, quotes or backslashes.",
                "invalid_scope",
                scope=_shown(scope),
            )
        result[scope] = None
    if not result and not allow_empty:
        raise _error(field, "at least one scope is required.", "required")
    return list(result)


def validate_contacts(contacts: object, field: str = "contacts") -> list[str]:
    """At most ``MAX_CONTACTS`` strings of at most ``MAX_CONTACT_LENGTH`` characters."""
    result = _bounded_list(contacts, field, MAX_CONTACTS, "contacts")
    for contact in result:
        if not isinstance(contact, str) or not contact or len(contact) > MAX_CONTACT_LENGTH:
            raise _error(
                field,
                "%(contact)s is not a contact of 1 to %(limit)d characters.",
                "invalid_contact",
                contact=_shown(contact),
                limit=MAX_CONTACT_LENGTH,
            )
    return result


def validate_metadata(metadata: object, field: str = "metadata") -> object:
    """JSON of at most ``MAX_METADATA_BYTES`` bytes once encoded."""
    try:
        size = len(json.dumps(metadata, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        raise _error(field, "must be JSON-serialisable.", "invalid_metadata") from None
    except RecursionError:
        raise _error(field, "is nested too deeply.", "metadata_too_deep") from None
    if size > MAX_METADATA_BYTES:
        raise _error(
            field,
            "may hold at most %(limit)d bytes of JSON (got %(size)d).",
            "metadata_too_large",
            limit=MAX_METADATA_BYTES,
            size=size,
        )
    return metadata


def validate_choices(values: object, field: str, allowed: Sequence[str]) -> list[str]:
    """Every value must be one of ``allowed``; unknown values are named in the error."""
    values = _bounded_list(values, field, 2 * len(allowed) + 10, "values")
    unknown = [v for v in values if not isinstance(v, str) or v not in allowed]
    if unknown:
        raise _error(
            field,
            "unknown value(s) %(unknown)s; allowed: %(allowed)s.",
            "unknown_value",
            unknown=_shown(unknown)[1:-1] if len(unknown) > 1 else _shown(unknown[0]),
            allowed=", ".join(allowed),
        )
    return list(dict.fromkeys(values))


def validate_auth_method(method: object) -> str:
    allowed = TokenEndpointAuthMethod.values
    if method not in allowed:
        raise _error(
            "token_endpoint_auth_method",
            "unknown value %(value)s; allowed: %(allowed)s.",
            "unknown_value",
            value=_shown(method),
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
    for name in WEB_URI_FIELDS:
        if getattr(client, name):
            collect(validate_web_uri, getattr(client, name), name)
    for name in FETCH_URI_FIELDS:
        if getattr(client, name):
            collect(validate_fetch_uri, getattr(client, name), name)
    if client.contacts is not None:
        collect(validate_contacts, client.contacts)
    if client.metadata is not None:
        collect(validate_metadata, client.metadata)
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
