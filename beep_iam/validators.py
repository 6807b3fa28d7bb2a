"""The rules of OAuth client metadata and scopes: the one home of every client rule.

Each ``validate_*`` function raises ``ValidationError`` keyed by the field, with a message
naming the rule and the offending value. :func:`validate_client` applies the field and
cross-field rules to a client and reports every error per field; ``OAuthClient.clean()``
calls it, so ``full_clean()`` (``register_client``, the admin's forms, the commands) applies
exactly these rules. This module sits below the models and the services: it imports
neither.

Which hosts this server may fetch from on a client's behalf (SSRF): a client's ``jwks_uri``
and ``backchannel_logout_uri`` are fetched or called by the server itself, from inside its
network: a URI naming the cloud metadata service (``169.254.169.254``), a private address or
``localhost`` would let whoever registers a client read or poke internal services.
:func:`internal_host_reason` is the one rule, used at registration
(:func:`validate_fetch_uri`); code that fetches such a URI later must also check every
address the name resolves to with :func:`is_internal_address` (a public name can resolve to
a private address, and change between the check and the fetch), and connect to the address
it checked.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from beep_iam.choices import (
    CLIENT_METADATA_DOCUMENT,
    ApplicationType,
    GrantType,
    ResponseType,
    TokenEndpointAuthMethod,
)
from beep_iam.conf import OIDC_SCOPES

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
#: A client's name (RFC 7591 client_name), shown to users on consent and device pages.
MAX_CLIENT_NAME_LENGTH = 255
MAX_METADATA_BYTES = 16_384


# Names that lead inside whatever network the server runs in: loopback, mDNS, the
# private-use top-level names (RFC 6761, RFC 8375, ICANN's .internal), and cloud metadata
# services reached by a short name.
INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052): a gateway turns 64:ff9b::/96 into the IPv4 address in its low 32 bits,
# so the IPv4 address decides. The local-use prefix (RFC 8215) and the deprecated
# IPv4-compatible ::/96 (RFC 4291) lead to whatever the operator routes there: internal; so
# do the deprecated site-local fec0::/10 (RFC 3879) and SIIT's IPv4-translated ::ffff:0:0:0/96
# (RFC 2765), where networks still route or translate them. Python before 3.13 counts them
# global.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
INTERNAL_IPV6_NETWORKS = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as the address a resolver would read it as, or None for a name.

    ``getaddrinfo`` (and so every HTTP client) also reads IPv4 in the old ``inet_aton``
    forms: ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376``.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if not text or not all(ch.isalnum() or ch == "." for ch in text):
        return None
    if not text[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def is_internal_address(address: str | IPAddress) -> bool:
    """Whether connecting to ``address`` reaches something not on the public internet."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None and is_internal_address(mapped):
            return True
        if ip.teredo is not None:
            return True
        if ip in NAT64_PREFIX:
            return is_internal_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in network for network in INTERNAL_IPV6_NETWORKS):
            return True
    return not ip.is_global or ip.is_multicast


def internal_host_reason(host: str) -> str | None:
    """Why ``host`` (a URI's host, as ``urlsplit(...).hostname`` gives it) is not a public
    host to fetch from, or None if it is one."""
    name = host.strip().lower().rstrip(".")
    if not name:
        return "it has no host"
    address = _literal_address(name)
    if address is not None:
        if is_internal_address(address):
            return f"{address} is a private, loopback, link-local or reserved address"
        return None
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
        return f"{name!r} names a local or internal host"
    if "." not in name:
        # Single-label names are completed by the resolver's search domains: internal hosts.
        return f"{name!r} is not a fully qualified domain name"
    return None


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


def _spaces_or_controls(text: str) -> bool:
    """Any space (Unicode's too: the admin edits lists one item per line and breaks lines
    where ``str.splitlines`` does, at U+2028 among others) or control character."""
    return any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch.isspace() for ch in text)


def _uri_text(uri: object, field: str, what: str) -> str:
    """``uri`` if it is a string of at most ``MAX_URI_LENGTH`` characters, without spaces,
    control characters or backslashes."""
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
    if _spaces_or_controls(uri):
        raise _error(
            field,
            "%(uri)s must not contain spaces or control characters.",
            "invalid_uri",
            uri=_shown(uri),
        )
    return uri


def _absolute_uri(uri: object, field: str, what: str) -> tuple[str, Any]:
    """``uri`` and its parts: :func:`_uri_text`, without userinfo, with a scheme and a
    host."""
    uri = _uri_text(uri, field, what)
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


#: RFC 8252 7.1: a native app's private-use scheme is a reverse domain name it controls
#: (``com.example.app``), as better-auth checks it; the dot keeps out ``javascript``,
#: ``data`` and every other single-label scheme.
PRIVATE_USE_SCHEME = re.compile(
    r"[a-z](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+",
    re.IGNORECASE | re.ASCII,  # or [a-z] matches the Kelvin sign and the long s
)


def is_private_use_uri(uri: str) -> bool:
    """``com.example.app:/callback``: a reverse-domain scheme and no authority (RFC 8252
    7.1 and 8.4: one slash after the colon)."""
    scheme, colon, rest = uri.partition(":")
    return (
        uri.isascii()  # a URI is ASCII (RFC 3986); a browser reads any other as a path
        and bool(colon)
        and PRIVATE_USE_SCHEME.fullmatch(scheme) is not None
        and rest.startswith("/")
        and not rest.startswith("//")
    )


def validate_redirect_uri(
    uri: object, field: str = "redirect_uris", *, native: bool = False
) -> str:
    """Absolute, no fragment, https; plain http only for loopback hosts (RFC 8252 7.3);
    for a ``native`` client also a private-use URI (:func:`is_private_use_uri`, RFC 8252
    7.1), as better-auth allows native clients.

    No wildcards, backslashes or userinfo: a redirect URI is compared exactly
    (``beep_iam.services.oauth_clients.match_redirect_uri``), and browsers resolve
    ``http://evil.com\\@localhost/`` to evil.com."""
    if isinstance(uri, str) and "*" in uri:
        raise _error(
            field,
            "%(uri)s must not contain %(rule)s: redirect URIs are matched exactly.",
            "redirect_uri_forbidden_character",
            uri=_shown(uri),
            rule="wildcards",
        )
    private_use = isinstance(uri, str) and is_private_use_uri(uri)
    if private_use and not native:
        raise _error(
            field,
            "%(uri)s: a private-use scheme is for native apps only (application_type "
            "'native', RFC 8252 7.1); others must use https.",
            "redirect_uri_insecure",
            uri=_shown(uri),
        )
    if private_use:  # no host, so no scheme rule either: the app's own scheme
        uri, parts = _uri_text(uri, field, "a redirect URI"), None
    else:
        uri, parts = _absolute_uri(uri, field, "a redirect URI")
    if "#" in uri:
        raise _error(
            field, "%(uri)s must not contain a fragment.", "redirect_uri_fragment", uri=_shown(uri)
        )
    return uri if parts is None else _secure_scheme(uri, parts, field)


def validate_web_uri(uri: object, field: str) -> str:
    """A URI pages link to or load (a client's home page, icon, terms, policy): https, or
    http for loopback hosts, as redirect URIs; never ``javascript:`` or ``data:``."""
    uri, parts = _absolute_uri(uri, field, "a URI")
    return _secure_scheme(uri, parts, field)


def validate_fetch_uri(uri: object, field: str) -> str:
    """A URI this server fetches or calls (``jwks_uri``, ``backchannel_logout_uri``): https
    to a public host; no literal private, loopback or link-local address, no ``localhost``
    or other internal name (:func:`internal_host_reason`, the one host rule)."""
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


def _each(values: list[Any], check: Any, *args: Any) -> list[Any]:
    """``check(value, *args)`` of every value; raises one error holding every failure."""
    results, errors = [], []
    for value in values:
        try:
            results.append(check(value, *args))
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        merged: dict[str, list[ValidationError]] = {}
        for error in errors:
            error.update_error_dict(merged)
        raise ValidationError(merged)
    return results


def validate_redirect_uris(
    uris: object, field: str = "redirect_uris", *, required: bool = True, native: bool = False
) -> list[str]:
    """Every URI by :func:`validate_redirect_uri`, each bad one named."""
    if uris is None and not required:
        return []
    result = _each(
        _bounded_list(uris, field, MAX_REDIRECT_URIS, "URIs"),
        lambda uri: validate_redirect_uri(uri, field, native=native),
    )
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
    checked = _each(_bounded_list(scopes, field, MAX_SCOPES, "scopes"), _validate_scope, field)
    if not checked and not allow_empty:
        raise _error(field, "at least one scope is required.", "required")
    return list(dict.fromkeys(checked))


def _validate_scope(scope: object, field: str) -> str:
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
    return scope


def validate_client_name(name: object, field: str = "name") -> object:
    """Something to show (not blank) of at most ``MAX_CLIENT_NAME_LENGTH`` characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_CLIENT_NAME_LENGTH:
        raise _error(
            field,
            "A client's name is 1 to %(limit)d characters, not all spaces.",
            "invalid_name",
            limit=MAX_CLIENT_NAME_LENGTH,
        )
    return name


def validate_contacts(contacts: object, field: str = "contacts") -> list[str]:
    """At most ``MAX_CONTACTS`` strings of at most ``MAX_CONTACT_LENGTH`` characters, each
    one line without surrounding spaces (an address or a URI): the admin edits them one per
    line, so a line break inside one would split it on the next save."""
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
        one_line = contact.splitlines() == [contact] and contact == contact.strip()
        if not one_line or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in contact):
            raise _error(
                field,
                "%(contact)s must be one line without control characters or surrounding spaces.",
                "invalid_contact",
                contact=_shown(contact),
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


def is_secret_method(method: object) -> bool:
    """Whether ``method`` is one of the client-secret authentication methods (the rule
    behind ``OAuthClient.uses_secret``)."""
    return method in (
        TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
        TokenEndpointAuthMethod.CLIENT_SECRET_POST,
    )


def _listed(value: object) -> list[Any]:
    """A list column's value for the cross-field rules; anything else (NULL, or a value its
    field rule refuses) counts as empty."""
    return list(value) if isinstance(value, list | tuple) else []


def _consistency_errors(client: OAuthClient) -> dict[str, str]:
    """The cross-field rules: what the auth method, grants and response types imply."""
    method = client.token_endpoint_auth_method
    grants, responses = _listed(client.grant_types), _listed(client.response_types)
    errors: dict[str, str] = {}
    if GrantType.AUTHORIZATION_CODE in grants and ResponseType.CODE not in responses:
        errors["response_types"] = "must include 'code' when grant_types has 'authorization_code'."
    if method == TokenEndpointAuthMethod.NONE and GrantType.CLIENT_CREDENTIALS in grants:
        errors["grant_types"] = (
            "a public client (auth method 'none') cannot use 'client_credentials'."
        )
    if method == TokenEndpointAuthMethod.NONE and client.client_secret:
        errors["token_endpoint_auth_method"] = (
            "a public client (auth method 'none') has no secret; this client has one."
        )
    delegated = [s for s in _listed(client.client_credentials_scopes) if s in OIDC_SCOPES]
    if delegated:
        # The token endpoint never grants them to a client for itself (views.machine_scopes):
        # said where they are set rather than found at the first token request.
        errors["client_credentials_scopes"] = (
            f"{', '.join(delegated)}: a user's scopes, never granted to a client for itself."
        )
    if method == TokenEndpointAuthMethod.PRIVATE_KEY_JWT and not (client.jwks or client.jwks_uri):
        errors["jwks_uri"] = "'private_key_jwt' needs the client's keys: set jwks or jwks_uri."
    elif client.jwks and client.jwks_uri:
        errors["jwks_uri"] = "set either jwks or jwks_uri, not both."
    return errors


def validate_client(client: OAuthClient) -> None:
    """Every field and cross-field rule of ``client``, all errors reported per field.

    Valid list values are stored back normalised (duplicates dropped, order kept), and
    ``public`` follows from the authentication method."""
    errors: dict[str, list[ValidationError]] = {}

    def collect(name: str, check: Any, *args: Any, **kwargs: Any) -> None:
        try:
            value = check(getattr(client, name), *args, **kwargs)
        except ValidationError as exc:
            exc.update_error_dict(errors)
        else:
            if isinstance(value, list):
                setattr(client, name, value)

    # Redirects matter only to the authorization_code grant (NULL grant_types: unrestricted).
    needs_redirect = client.grant_types is None or GrantType.AUTHORIZATION_CODE in _listed(
        client.grant_types
    )
    # A metadata document that names no application_type is a native app's, as better-auth
    # validates it (MCP desktop clients name private-use redirect URIs in theirs).
    native = client.application_type == ApplicationType.NATIVE or (
        client.application_type is None and client.client_discovery_id == CLIENT_METADATA_DOCUMENT
    )
    collect("redirect_uris", validate_redirect_uris, required=needs_redirect, native=native)
    if client.post_logout_redirect_uris:
        collect(
            "post_logout_redirect_uris",
            validate_redirect_uris,
            "post_logout_redirect_uris",
            required=False,
            native=native,
        )
    if client.token_endpoint_auth_method is not None:
        collect("token_endpoint_auth_method", validate_auth_method)
    if client.grant_types is not None:
        collect("grant_types", validate_grant_types)
    if client.response_types is not None:
        collect("response_types", validate_response_types)
    for name in WEB_URI_FIELDS:
        if getattr(client, name):
            collect(name, validate_web_uri, name)
    for name in FETCH_URI_FIELDS:
        if getattr(client, name):
            collect(name, validate_fetch_uri, name)
    if client.name is not None:
        collect("name", validate_client_name)
    if client.contacts is not None:
        collect("contacts", validate_contacts)
    if client.metadata is not None:
        collect("metadata", validate_metadata)
    for name in ("scopes", "client_credentials_scopes"):
        if getattr(client, name) is not None:
            collect(name, validate_scopes, name, allow_empty=True)
    for name, message in _consistency_errors(client).items():
        if name not in errors:  # a malformed value is reported once, by its own rule
            errors[name] = [ValidationError(message, code="inconsistent")]
    if client.token_endpoint_auth_method is not None:
        client.public = client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE
    if errors:
        raise ValidationError(errors)
