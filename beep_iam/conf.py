"""beep-iam settings: one ``BEEP_IAM`` dict in Django settings, with defaults and validation.

```python
BEEP_IAM = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),    # or seconds as an int
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "REVOKED_TOKEN_RETENTION": timedelta(days=7),
    "PURGE_BATCH_SIZE": 5000,
    "PREPARED_LOOKUPS": None,
    # Sharing the database with a better-auth server (docs/better-auth.md):
    "BETTER_AUTH_SECRET": None,                     # better-auth's secret, for its cookies
    "BETTER_AUTH_COOKIE_PREFIX": "better-auth",     # better-auth's advanced.cookiePrefix
    "BETTER_AUTH_SESSION_COOKIE": None,             # advanced.cookies.session_token.name
    "BETTER_AUTH_SECURE_COOKIES": None,             # advanced.useSecureCookies
    "BETTER_AUTH_PASSWORDS": False,                 # keep the credential account in step
    "BETTER_AUTH_ROLE": None,                       # the better-auth server's database role
    # The OAuth 2.1 / OpenID Connect endpoints (beep_iam.oauth2, docs/oauth2.md):
    "OAUTH2_ISSUER": None,                          # e.g. "https://auth.example.com"
    "ID_TOKEN_LIFETIME": timedelta(hours=10),
    "OAUTH2_ID_TOKEN_SIGNING_ALG": "EdDSA",         # or "RS256", "ES256"; clients may choose
    "OAUTH2_RATE_LIMITS": {},                       # over DEFAULT_RATE_LIMITS; None: off
    "OAUTH2_RATE_LIMIT_STORE": "cache",             # or "database", or a dotted path
    "OAUTH2_EXTRA_CLAIMS": None,                    # dotted path of a custom-claims callable
    "OAUTH2_RESOURCE": None,                        # this resource server's identifier
    # Clients that register themselves (docs/oauth2.md, "Client registration"):
    "OAUTH2_REGISTRATION": "initial_access_token",  # or "open", "signed_in", None (off)
    "OAUTH2_INITIAL_ACCESS_TOKENS": (),             # digests (beep_shared.crypto.digest)
    "OAUTH2_REGISTRATION_SCOPES": None,             # None: openid profile email offline_access
    "OAUTH2_CLIENT_ID_METADATA_DOCUMENTS": False,   # https client_id URLs (CIMD)
    "OAUTH2_FETCH_ALLOW_LOOPBACK": False,           # tests and development only
    "REFRESH_TOKEN_REPLAY_WINDOW": 0,               # seconds; 0: off
    "OAUTH2_TRUSTED_PROXIES": [],                   # proxies whose X-Forwarded-For is read
    "OAUTH2_CONSENT_REFERENCE_ID": None,            # dotted path: the grant's organization
    "OAUTH2_DPOP": {},                              # DPoP (RFC 9449) options
    "OAUTH2_ENFORCE_PER_CLIENT_RESOURCES": True,    # resources need a client link
    "OAUTH2_REGISTRATION_DEFAULT_RESOURCES": (),    # linked to self-registered clients
    "OAUTH2_REQUIRE_PAR": False,                    # authorize only through /oauth2/par
    "OAUTH2_DEVICE_POLLING_INTERVAL": 5,            # seconds between device flow polls
}
```

Every key, its default and meaning: docs/settings.md (a test keeps the page and
:data:`DEFAULTS` in step). ``SESSION_TOKEN_STORAGE`` moved to ``BEEP_SHARED`` (the rule is
beep_shared's ``Session``'s); naming it here is an error that says so.

Unknown keys and bad values raise ``ImproperlyConfigured`` naming the key; ``manage.py check``
reports them as well.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from ipaddress import IPv4Network, IPv6Network
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from beep_shared import setting_values

SETTING_NAME = "BEEP_IAM"
_duration = partial(setting_values.duration, SETTING_NAME)
_choice = partial(setting_values.choice, SETTING_NAME)
_bool = partial(setting_values.boolean, SETTING_NAME)
FORMER_ROLE_SETTING = "BEEP_BETTER_AUTH_ROLE"
#: Keys that moved to the lower app's settings (the rule they choose belongs to its models).
MOVED_KEYS = {"SESSION_TOKEN_STORAGE": "BEEP_SHARED['SESSION_TOKEN_STORAGE']"}

DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "REVOKED_TOKEN_RETENTION": timedelta(days=7),
    "PURGE_BATCH_SIZE": 5000,
    "PREPARED_LOOKUPS": None,
    "BETTER_AUTH_SECRET": None,
    "BETTER_AUTH_COOKIE_PREFIX": "better-auth",
    "BETTER_AUTH_SESSION_COOKIE": None,
    "BETTER_AUTH_SECURE_COOKIES": None,
    "BETTER_AUTH_PASSWORDS": False,
    "BETTER_AUTH_ROLE": None,
    "OAUTH2_ISSUER": None,
    "ID_TOKEN_LIFETIME": timedelta(hours=10),
    "OAUTH2_ID_TOKEN_SIGNING_ALG": "EdDSA",
    "OAUTH2_RATE_LIMITS": {},
    "OAUTH2_RATE_LIMIT_STORE": "cache",
    "OAUTH2_EXTRA_CLAIMS": None,
    "OAUTH2_RESOURCE": None,
    "OAUTH2_REGISTRATION": "initial_access_token",
    "OAUTH2_INITIAL_ACCESS_TOKENS": (),
    "OAUTH2_REGISTRATION_SCOPES": None,
    "OAUTH2_CLIENT_ID_METADATA_DOCUMENTS": False,
    "OAUTH2_FETCH_ALLOW_LOOPBACK": False,
    "REFRESH_TOKEN_REPLAY_WINDOW": 0,
    "OAUTH2_TRUSTED_PROXIES": [],
    "OAUTH2_CONSENT_REFERENCE_ID": None,
    "OAUTH2_DPOP": {},
    "OAUTH2_ENFORCE_PER_CLIENT_RESOURCES": True,
    "OAUTH2_REGISTRATION_DEFAULT_RESOURCES": (),
    "OAUTH2_REQUIRE_PAR": False,
    "OAUTH2_DEVICE_POLLING_INTERVAL": timedelta(seconds=5),
}
REGISTRATION_MODES = ("open", "initial_access_token", "signed_in")
#: The JWS algorithms this server signs ID tokens and JWT access tokens with, and the key each
#: takes (JWK ``kty``, then the curve or the RSA size), as better-auth's jwt plugin makes them
#: in the ``jwks`` table: EdDSA, better-auth's default; RS256, which OpenID Connect requires a
#: provider to offer.
SIGNING_KEYS: dict[str, tuple[str, str | int]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "RS256": ("RSA", 2048),
}
SIGNING_ALGORITHMS = tuple(SIGNING_KEYS)
#: better-auth's DEFAULT_OAUTH_SCOPES: the scopes a user delegates (never granted to a client
#: acting for itself), the scopes of a request that names none from a client that registered
#: none, and registration's default.
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT_REGISTRATION_SCOPES = OIDC_SCOPES

#: Every rate-limited endpoint: the path its counters are keyed by (better-auth's: its
#: rate-limit keys end with it, so the "database" store counts with a better-auth server on the
#: same table) and its default limits. better-auth's oauth-provider defaults per IP (window
#: 60 s: token 20, introspect 100, revoke 30); per client a few times that, for a backend that
#: serves many users.
RATE_LIMITED_ENDPOINTS: dict[str, tuple[str, dict[str, int | None]]] = {
    "token": ("/oauth2/token", {"window": 60, "per_ip": 20, "per_client": 120}),
    "introspect": ("/oauth2/introspect", {"window": 60, "per_ip": 100, "per_client": 600}),
    "revoke": ("/oauth2/revoke", {"window": 60, "per_ip": 30, "per_client": 120}),
    "consent": ("/oauth2/consent", {"window": 60, "per_ip": 30, "per_client": 600}),
    # better-auth's /oauth2/register default (5 a minute per IP); also the RFC 7592 calls.
    "register": ("/oauth2/register", {"window": 60, "per_ip": 5, "per_client": None}),
    # RFC 8628: better-auth's /device/code; code look-ups on the verification page (user codes
    # have about 34 bits, so guessing is what this limits).
    "device": ("/device/code", {"window": 60, "per_ip": 20, "per_client": 120}),
    "device_verify": ("/device", {"window": 60, "per_ip": 10, "per_client": None}),
    # Client ID Metadata Documents fetched for unknown or due client_id URLs at
    # /oauth2/authorize (a GET nothing else limits): each one is an outbound request. No
    # better-auth endpoint, so a path of its own.
    "cimd_fetch": (
        "/oauth2/authorize#client-metadata-fetch",
        {"window": 60, "per_ip": 10, "per_client": None},
    ),
}
DEFAULT_RATE_LIMITS = {name: limits for name, (_, limits) in RATE_LIMITED_ENDPOINTS.items()}
RATE_LIMIT_PATHS = {name: path for name, (path, _) in RATE_LIMITED_ENDPOINTS.items()}
RATE_LIMIT_STORES = ("cache", "database")

MAX_PURGE_BATCH_SIZE = 1_000_000
#: Longest REFRESH_TOKEN_REPLAY_WINDOW: long enough for a retry, short for a stolen token.
MAX_REPLAY_WINDOW = timedelta(minutes=1)
#: Longest OAUTH2_DEVICE_POLLING_INTERVAL: RFC 8628 leaves it open; a device waiting longer
#: than this between polls keeps its user waiting after the approval.
MAX_DEVICE_POLLING_INTERVAL = timedelta(minutes=1)
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
MIN_SECRET_LENGTH = 32
# PostgreSQL keeps 63 bytes of a name; pg_* names are reserved for the server's own roles.
MAX_ROLE_NAME_BYTES = 63
_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")


@dataclass(frozen=True)
class IamSettings:
    access_token_lifetime: timedelta
    refresh_token_lifetime: timedelta
    revoked_token_retention: timedelta
    purge_batch_size: int
    prepared_lookups: bool | None
    better_auth_secret: str | None = field(default=None, repr=False)
    better_auth_cookie_prefix: str = "better-auth"
    better_auth_session_cookie: str | None = None
    better_auth_secure_cookies: bool | None = None
    better_auth_passwords: bool = False
    better_auth_role: str | None = None
    oauth2_issuer: str | None = None
    id_token_lifetime: timedelta = timedelta(hours=10)
    oauth2_id_token_signing_alg: str = "EdDSA"
    #: endpoint -> RateLimit; an endpoint missing is not limited.
    oauth2_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    oauth2_rate_limit_store: Any = "cache"  # "cache", "database" or a Store class
    oauth2_extra_claims: Any = None
    oauth2_resource: str | None = None
    oauth2_registration: str | None = "initial_access_token"
    oauth2_initial_access_tokens: frozenset[str] = frozenset()
    oauth2_registration_scopes: tuple[str, ...] = DEFAULT_REGISTRATION_SCOPES
    oauth2_client_id_metadata_documents: bool = False
    oauth2_fetch_allow_loopback: bool = False
    refresh_token_replay_window: timedelta = timedelta(0)
    oauth2_trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    oauth2_consent_reference_id: Any = None
    oauth2_dpop: DPoPSettings = field(default_factory=lambda: DPoPSettings())
    oauth2_enforce_per_client_resources: bool = True
    oauth2_registration_default_resources: tuple[str, ...] = ()
    oauth2_require_par: bool = False
    oauth2_device_polling_interval: timedelta = timedelta(seconds=5)


#: Asymmetric JWS algorithms accepted in DPoP proofs by default: better-auth 1.7's list and
#: the other sizes of the same families.
DPOP_ALGORITHMS = (
    "EdDSA",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "RS256",
    "RS384",
    "RS512",
)
DPOP_REPLAY_STORES = ("database", "cache")


@dataclass(frozen=True)
class DPoPSettings:
    algorithms: tuple[str, ...] = DPOP_ALGORITHMS
    proof_max_age: int = 300
    nonce_required: bool = False
    nonce_lifetime: int = 300
    replay_store: str = "database"
    required_at_resource: bool = False


@dataclass(frozen=True)
class RateLimit:
    window: int
    per_ip: int | None
    per_client: int | None


def _batch_size(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be an int, got {value!r}.")
    if not 1 <= value <= MAX_PURGE_BATCH_SIZE:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be between 1 and {MAX_PURGE_BATCH_SIZE}, got {value}."
        )
    return value


def _optional_bool(key: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be True, False or None, got {value!r}."
        )
    return value


def _secret(key: str, value: Any) -> str | None:
    # The value itself never goes into a message.
    if value is None:
        return None
    if not isinstance(value, str):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a string or None, got a {type(value).__name__}."
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be at least {MIN_SECRET_LENGTH} characters long "
            f"(better-auth warns below that), got {len(value)}."
        )
    return value


def _cookie_name(key: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    # A cookie name is an RFC 6265 token; better-auth adds the dot and the __Secure- prefix.
    if not isinstance(value, str) or not value or not _COOKIE_NAME.match(value):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a cookie name (letters, digits and "
            f"!#$%&'*+-.^_`|~), got {value!r}."
        )
    return value


#: The rule :func:`is_role_name` checks, in words.
ROLE_NAME_RULE = (
    f"a letter or _, then letters, digits, _, $ or -, at most {MAX_ROLE_NAME_BYTES} bytes, "
    "not starting with pg_"
)


def is_role_name(value: Any) -> bool:
    """A database role (or schema) name this package writes into SQL: plain enough that
    quoting it can never end the identifier."""
    return (
        isinstance(value, str)
        and bool(_ROLE_NAME.fullmatch(value))
        and len(value.encode()) <= MAX_ROLE_NAME_BYTES
        and not value.lower().startswith("pg_")
    )


def _role_name(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not is_role_name(value):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be None or a database role name ({ROLE_NAME_RULE}), "
            f"got {value!r}."
        )
    return value


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _issuer(key: str, value: Any) -> str | None:
    # RFC 8414 section 2: https, no query or fragment; a trailing slash would make the
    # endpoint URLs built on it differ from better-auth's.
    if value is None:
        return None
    rule = (
        "an absolute https URL without query, fragment or trailing slash (http only for "
        "localhost and loopback addresses)"
    )
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be {rule}, got {value!r}.")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be {rule}, got {value!r}."
        ) from None
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)
    if (
        not secure
        or not parts.netloc
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
        or value.endswith("/")
    ):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be {rule}, got {value!r}.")
    return value


def _resource(key: str, value: Any) -> str | None:
    # RFC 8707 section 2: an absolute URI without fragment.
    if value is None:
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc or "#" in value:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be an absolute http(s) URL without fragment "
            f"(a resource identifier), got {value!r}."
        )
    return value


def _positive_int(name: str, value: Any, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        also = " or None" if optional else ""
        raise ImproperlyConfigured(f"{name} must be a positive int{also}, got {value!r}.")
    return value


def _rate_limits(key: str, value: Any) -> dict[str, RateLimit]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a dict of endpoint to limits, or None, got {value!r}."
        )
    unknown = sorted(set(value) - set(DEFAULT_RATE_LIMITS), key=str)
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] has unknown endpoint(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(DEFAULT_RATE_LIMITS)}."
        )
    limits: dict[str, RateLimit] = {}
    for endpoint, default in DEFAULT_RATE_LIMITS.items():
        given = value.get(endpoint, default)
        if given is None:
            continue
        name = f"{SETTING_NAME}[{key!r}][{endpoint!r}]"
        if not isinstance(given, Mapping):
            raise ImproperlyConfigured(
                f"{name} must be a dict with window, per_ip, per_client, or None, got {given!r}."
            )
        extra = sorted(set(given) - {"window", "per_ip", "per_client"}, key=str)
        if extra:
            raise ImproperlyConfigured(
                f"{name} has unknown key(s) {', '.join(map(repr, extra))}; "
                "known: window, per_ip, per_client."
            )
        merged = {**default, **given}
        window = _positive_int(f"{name}['window']", merged["window"], optional=False)
        assert window is not None
        limits[endpoint] = RateLimit(
            window=window,
            per_ip=_positive_int(f"{name}['per_ip']", merged["per_ip"], optional=True),
            per_client=_positive_int(f"{name}['per_client']", merged["per_client"], optional=True),
        )
    return limits


def _dotted_path(key: str, value: Any, *, choices: tuple[str, ...] = ()) -> Any:
    """A dotted path, imported now so a typo fails at start-up, not on a request."""
    if value is None or value in choices:
        return value
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be a dotted path, got {value!r}.")
    try:
        return import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}]: cannot import {value!r} ({exc})."
        ) from None


def _callable(key: str, value: Any) -> Any:
    target = _dotted_path(key, value)
    if target is not None and not callable(target):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}]: {value!r} is not callable.")
    return target


def _registration(key: str, value: Any) -> str | None:
    if value is None:
        return None
    return _choice(key, value, REGISTRATION_MODES)


def _digests(key: str, value: Any) -> frozenset[str]:
    # A digest is 43 base64url characters; a raw token pasted here by mistake is refused.
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a list of token digests, got a "
            f"{type(value).__name__}."
        )
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", item):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}] must hold SHA-256 digests "
                "(beep_shared.crypto.digest(token): 43 base64url characters), not tokens."
            )
    return frozenset(value)


def _scope_list(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_REGISTRATION_SCOPES
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a list of scopes or None, got {value!r}."
        )
    if not value:
        # A client's empty scopes mean any scope (better-auth reads them so): a client anyone
        # registered would get every scope, the resource servers' own included.
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must hold at least one scope (None: the default "
            f"{' '.join(DEFAULT_REGISTRATION_SCOPES)}); a client with no scopes may ask for any."
        )
    for scope in value:
        if not isinstance(scope, str) or not scope or " " in scope:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}] must hold scope strings without spaces, got {scope!r}."
            )
    return tuple(dict.fromkeys(value))


def _replay_window(key: str, value: Any) -> timedelta:
    window = _duration(key, value, allow_zero=True)
    if window > MAX_REPLAY_WINDOW:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be at most {int(MAX_REPLAY_WINDOW.total_seconds())} "
            f"seconds (reuse detection is blind that long), got {value!r}."
        )
    return window


def _polling_interval(key: str, value: Any) -> timedelta:
    # Sent as whole seconds (RFC 8628 3.2's interval) and stored in milliseconds: a fraction
    # would be rounded on the wire and the device told a shorter wait than it is held to.
    interval = _duration(key, value)
    if interval > MAX_DEVICE_POLLING_INTERVAL or interval % timedelta(seconds=1):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a whole number of seconds from 1 to "
            f"{int(MAX_DEVICE_POLLING_INTERVAL.total_seconds())}, got {value!r}."
        )
    return interval


def _networks(key: str, value: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a list of IP addresses or networks, got {value!r}."
        )
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}]: {item!r} is not an IP address or network "
                "(e.g. '10.0.0.1' or '10.0.0.0/8', host bits zero)."
            ) from None
    return tuple(networks)


def _resource_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] must be a list of resource identifiers, got {value!r}."
        )
    resources = []
    for item in value:
        checked = _resource(key, item)
        if checked is None:
            raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must not hold None.")
        resources.append(checked)
    return tuple(dict.fromkeys(resources))


def _dpop(key: str, value: Any) -> DPoPSettings:
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{SETTING_NAME}[{key!r}] must be a dict, got {value!r}.")
    known = {
        "ALGORITHMS",
        "PROOF_MAX_AGE",
        "NONCE_REQUIRED",
        "NONCE_LIFETIME",
        "REPLAY_STORE",
        "REQUIRED_AT_RESOURCE",
    }
    unknown = sorted(set(value) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}] has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(sorted(known))}."
        )
    defaults = DPoPSettings()
    algorithms = value.get("ALGORITHMS", defaults.algorithms)
    if (
        isinstance(algorithms, str)
        or not isinstance(algorithms, list | tuple)
        or not algorithms
        or any(a not in DPOP_ALGORITHMS for a in algorithms)
    ):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{key!r}]['ALGORITHMS'] must be a non-empty list of "
            f"{', '.join(DPOP_ALGORITHMS)}, got {algorithms!r}."
        )

    nested = f"{SETTING_NAME}[{key!r}]"  # messages name BEEP_IAM['OAUTH2_DPOP']['...']

    def seconds(name: str, default: int) -> int:
        span = setting_values.duration(nested, name, value.get(name, default))
        return max(1, int(span.total_seconds()))

    def flag(name: str, default: bool) -> bool:
        return setting_values.boolean(nested, name, value.get(name, default))

    return DPoPSettings(
        algorithms=tuple(algorithms),
        proof_max_age=seconds("PROOF_MAX_AGE", defaults.proof_max_age),
        nonce_required=flag("NONCE_REQUIRED", defaults.nonce_required),
        nonce_lifetime=seconds("NONCE_LIFETIME", defaults.nonce_lifetime),
        replay_store=setting_values.choice(
            nested, "REPLAY_STORE", value.get("REPLAY_STORE", "database"), DPOP_REPLAY_STORES
        ),
        required_at_resource=flag("REQUIRED_AT_RESOURCE", defaults.required_at_resource),
    )


def load(user_settings: Any) -> IamSettings:
    """Validate ``user_settings`` (the ``BEEP_IAM`` value) over the defaults."""
    if user_settings is None:
        user_settings = {}
    if not isinstance(user_settings, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING_NAME} must be a dict, got {type(user_settings).__name__}."
        )
    moved = [key for key in MOVED_KEYS if key in user_settings]
    if moved:
        raise ImproperlyConfigured(
            " ".join(f"{SETTING_NAME}[{key!r}] moved: set {MOVED_KEYS[key]}." for key in moved)
        )
    unknown = sorted(set(user_settings) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING_NAME} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **user_settings}
    return IamSettings(
        access_token_lifetime=_duration("ACCESS_TOKEN_LIFETIME", merged["ACCESS_TOKEN_LIFETIME"]),
        refresh_token_lifetime=_duration(
            "REFRESH_TOKEN_LIFETIME", merged["REFRESH_TOKEN_LIFETIME"]
        ),
        revoked_token_retention=_duration(
            "REVOKED_TOKEN_RETENTION", merged["REVOKED_TOKEN_RETENTION"], allow_zero=True
        ),
        purge_batch_size=_batch_size("PURGE_BATCH_SIZE", merged["PURGE_BATCH_SIZE"]),
        prepared_lookups=_optional_bool("PREPARED_LOOKUPS", merged["PREPARED_LOOKUPS"]),
        better_auth_secret=_secret("BETTER_AUTH_SECRET", merged["BETTER_AUTH_SECRET"]),
        better_auth_cookie_prefix=str(
            _cookie_name("BETTER_AUTH_COOKIE_PREFIX", merged["BETTER_AUTH_COOKIE_PREFIX"])
        ),
        better_auth_session_cookie=_cookie_name(
            "BETTER_AUTH_SESSION_COOKIE", merged["BETTER_AUTH_SESSION_COOKIE"], optional=True
        ),
        better_auth_secure_cookies=_optional_bool(
            "BETTER_AUTH_SECURE_COOKIES", merged["BETTER_AUTH_SECURE_COOKIES"]
        ),
        better_auth_passwords=_bool("BETTER_AUTH_PASSWORDS", merged["BETTER_AUTH_PASSWORDS"]),
        better_auth_role=_role_name("BETTER_AUTH_ROLE", merged["BETTER_AUTH_ROLE"]),
        oauth2_issuer=_issuer("OAUTH2_ISSUER", merged["OAUTH2_ISSUER"]),
        id_token_lifetime=_duration("ID_TOKEN_LIFETIME", merged["ID_TOKEN_LIFETIME"]),
        oauth2_id_token_signing_alg=_choice(
            "OAUTH2_ID_TOKEN_SIGNING_ALG", merged["OAUTH2_ID_TOKEN_SIGNING_ALG"], SIGNING_ALGORITHMS
        ),
        oauth2_rate_limits=_rate_limits("OAUTH2_RATE_LIMITS", merged["OAUTH2_RATE_LIMITS"]),
        oauth2_rate_limit_store=_dotted_path(
            "OAUTH2_RATE_LIMIT_STORE", merged["OAUTH2_RATE_LIMIT_STORE"], choices=RATE_LIMIT_STORES
        ),
        oauth2_extra_claims=_callable("OAUTH2_EXTRA_CLAIMS", merged["OAUTH2_EXTRA_CLAIMS"]),
        oauth2_resource=_resource("OAUTH2_RESOURCE", merged["OAUTH2_RESOURCE"]),
        oauth2_registration=_registration("OAUTH2_REGISTRATION", merged["OAUTH2_REGISTRATION"]),
        oauth2_initial_access_tokens=_digests(
            "OAUTH2_INITIAL_ACCESS_TOKENS", merged["OAUTH2_INITIAL_ACCESS_TOKENS"]
        ),
        oauth2_registration_scopes=_scope_list(
            "OAUTH2_REGISTRATION_SCOPES", merged["OAUTH2_REGISTRATION_SCOPES"]
        ),
        oauth2_client_id_metadata_documents=_bool(
            "OAUTH2_CLIENT_ID_METADATA_DOCUMENTS", merged["OAUTH2_CLIENT_ID_METADATA_DOCUMENTS"]
        ),
        oauth2_fetch_allow_loopback=_bool(
            "OAUTH2_FETCH_ALLOW_LOOPBACK", merged["OAUTH2_FETCH_ALLOW_LOOPBACK"]
        ),
        refresh_token_replay_window=_replay_window(
            "REFRESH_TOKEN_REPLAY_WINDOW", merged["REFRESH_TOKEN_REPLAY_WINDOW"]
        ),
        oauth2_trusted_proxies=_networks(
            "OAUTH2_TRUSTED_PROXIES", merged["OAUTH2_TRUSTED_PROXIES"]
        ),
        oauth2_consent_reference_id=_callable(
            "OAUTH2_CONSENT_REFERENCE_ID", merged["OAUTH2_CONSENT_REFERENCE_ID"]
        ),
        oauth2_dpop=_dpop("OAUTH2_DPOP", merged["OAUTH2_DPOP"]),
        oauth2_enforce_per_client_resources=_bool(
            "OAUTH2_ENFORCE_PER_CLIENT_RESOURCES", merged["OAUTH2_ENFORCE_PER_CLIENT_RESOURCES"]
        ),
        oauth2_registration_default_resources=_resource_list(
            "OAUTH2_REGISTRATION_DEFAULT_RESOURCES", merged["OAUTH2_REGISTRATION_DEFAULT_RESOURCES"]
        ),
        oauth2_require_par=_bool("OAUTH2_REQUIRE_PAR", merged["OAUTH2_REQUIRE_PAR"]),
        oauth2_device_polling_interval=_polling_interval(
            "OAUTH2_DEVICE_POLLING_INTERVAL", merged["OAUTH2_DEVICE_POLLING_INTERVAL"]
        ),
    )


_cached: IamSettings | None = None


def iam_settings() -> IamSettings:
    """The validated settings, cached until ``BEEP_IAM`` changes (e.g. ``override_settings``)."""
    global _cached
    if _cached is None:
        _cached = load(getattr(settings, SETTING_NAME, None))
    return _cached


def reset_cache(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver (connected in ``BeepIamConfig.ready``)."""
    global _cached
    if setting == SETTING_NAME:
        _cached = None


def _check_dpop_cache(loaded: IamSettings) -> list[checks.CheckMessage]:
    """A DPoP replay cache must remember (not the dummy cache) across workers (not the
    per-process local-memory cache)."""
    if loaded.oauth2_dpop.replay_store != "cache":
        return []
    backend = str(getattr(settings, "CACHES", {}).get("default", {}).get("BACKEND", ""))
    where = f"{SETTING_NAME}['OAUTH2_DPOP']['REPLAY_STORE'] is 'cache'"
    if backend.endswith("DummyCache"):
        return [
            checks.Error(
                f"{where}, but the default cache is DummyCache, which remembers nothing: "
                "replayed DPoP proofs would be accepted. Use 'database' or a shared cache.",
                id="beep_iam.E042",
            )
        ]
    if backend.endswith("LocMemCache"):
        return [
            checks.Warning(
                f"{where}, but the default cache is LocMemCache, one per process: a DPoP proof "
                "used at one worker would be accepted again at another. Use 'database' or a "
                "cache every worker shares.",
                id="beep_iam.W042",
            )
        ]
    return []


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    try:
        loaded = load(getattr(settings, SETTING_NAME, None))
    except ImproperlyConfigured as exc:
        messages.append(checks.Error(str(exc), id="beep_iam.E001"))
    else:
        messages.extend(_check_dpop_cache(loaded))
    if hasattr(settings, FORMER_ROLE_SETTING):
        # Its old default granted a role by its name alone; ignoring it quietly would leave a
        # role it named without grants after the next migration.
        messages.append(
            checks.Error(
                f"{FORMER_ROLE_SETTING} is no longer read: name the better-auth role in "
                f"{SETTING_NAME}['BETTER_AUTH_ROLE'] (None: no role is granted anything).",
                id="beep_iam.E002",
            )
        )
    user = getattr(settings, SETTING_NAME, None)
    if (
        isinstance(user, Mapping)
        and user.get("OAUTH2_FETCH_ALLOW_LOOPBACK") is True
        and not settings.DEBUG
    ):
        messages.append(
            checks.Warning(
                f"{SETTING_NAME}['OAUTH2_FETCH_ALLOW_LOOPBACK'] is on with DEBUG off: the "
                "server fetches client metadata and keys from loopback addresses, so "
                "anyone who names such a URL reaches services on this host.",
                hint="Turn it off outside tests and development.",
                id="beep_iam.W041",
            )
        )
    return messages
