"""``private_key_jwt`` client authentication (RFC 7523 section 3, OIDC Core section 9), checked
as better-auth 1.7 checks it, so an assertion is single use across both servers.

The client's keys come from its registered ``jwks``, or from its ``jwks_uri`` through the
SSRF-hardened fetcher (:mod:`beep_iam.oauth2.fetch`), cached for :data:`JWKS_CACHE_SECONDS`
(better-auth's five minutes) under better-auth's key (``<client_discovery_id or "managed">:
<jwks_uri>``) and fetched again once when an assertion names a key id the cached set lacks
(the client rotated its keys). The assertion must name the
client in ``iss`` and ``sub``, name this endpoint or the issuer in ``aud``, expire within five
minutes, and carry a ``jti`` that is recorded in ``oauth_client_assertion`` (id: the first 24
bytes of SHA-256 of ``private_key_jwt:<client_id>:<jti>``, base64url, as better-auth writes it)
so a replay is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from beep_iam.models import OAuthClient, OAuthClientAssertion
from beep_iam.models.oauth import TokenEndpointAuthMethod
from beep_iam.oauth2 import cimd, fetch, jose, metadata
from beep_iam.oauth2.invalid_client import InvalidClientError
from beep_iam.oauth2.text import printable

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
MAX_LIFETIME = 300  # seconds; better-auth's assertionMaxLifetime default
JWKS_CACHE_SECONDS = 300  # better-auth's JWKS_CACHE_TTL_MS
JWKS_REFETCH_SECONDS = 60  # at most one fetch for an unknown kid per client per minute
JWKS_MAX_BYTES = 64 * 1024  # better-auth's MAX_JWKS_RESPONSE_BYTES
JWKS_FETCH_TIMEOUT = 5.0  # seconds; better-auth's JWKS_FETCH_TIMEOUT_MS
JWKS_MEDIA_TYPES = ("application/json", "application/jwk-set+json")


def _refuse(description: str) -> InvalidClientError:
    return InvalidClientError(description=printable(description))


def assertion_id(client_id: str, jti: str) -> str:
    digest = hashlib.sha256(f"private_key_jwt:{client_id}:{jti}".encode()).digest()[:24]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@sensitive_variables("assertion")
def authenticate(params: dict[str, str], audiences: set[str]) -> OAuthClient:
    """The client a valid, unused assertion in ``params`` authenticates; records its ``jti``."""
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise _refuse("unsupported client_assertion_type")
    assertion = params.get("client_assertion") or ""
    try:
        peeked = jws.extract_compact(assertion.encode())
        unverified = json.loads(peeked.payload)
        alg = peeked.headers().get("alg")
    except jose.MALFORMED:
        raise _refuse("malformed client assertion") from None
    if alg not in ALGORITHMS:
        raise _refuse(f"unsupported assertion signing algorithm: {alg}")
    client_id = (
        unverified.get("sub") or unverified.get("iss") if isinstance(unverified, dict) else None
    )
    if not isinstance(client_id, str) or "\x00" in client_id:  # no text column holds a NUL
        raise _refuse("the assertion names no client in sub or iss")
    if params.get("client_id", client_id) != client_id:
        raise _refuse("client_id differs from the assertion's sub/iss")
    try:
        cimd.discover(client_id)
    except cimd.DiscoveryError as exc:
        raise _refuse(exc.description) from None
    client = OAuthClient.objects.filter(
        client_id=client_id, disabled=False, deleted_at__isnull=True
    ).first()
    if client is None or client.token_endpoint_auth_method != (
        TokenEndpointAuthMethod.PRIVATE_KEY_JWT
    ):
        raise _refuse("client authentication failed")
    kid = peeked.headers().get("kid")
    keys = _client_keys(client, kid)
    try:
        claims: dict[str, Any] = jwt.decode(assertion, keys, algorithms=ALGORITHMS).claims
    except jose.MALFORMED:
        raise _refuse("client assertion signature verification failed") from None
    _check_claims(claims, client_id, audiences)
    try:
        with transaction.atomic():
            OAuthClientAssertion.objects.create(
                id=assertion_id(client_id, claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
            )
    except IntegrityError:
        raise _refuse("client assertion jti has already been used") from None
    return client


def jwks_cache_key(client: OAuthClient) -> str:
    """The cache key of the key set fetched from the client's ``jwks_uri``."""
    source = f"{client.client_discovery_id or 'managed'}:{client.jwks_uri}"
    return "beep_iam:jwks:" + hashlib.sha256(source.encode()).hexdigest()


def _client_keys(client: OAuthClient, kid: object) -> KeySet:
    """The client's verification keys: its ``jwks``, or its ``jwks_uri``'s (cached; fetched
    again once when ``kid`` is not among them)."""
    if client.jwks:
        return _key_set(client.jwks)
    if not client.jwks_uri:
        raise _refuse("the client has no keys (jwks or jwks_uri)")
    key = jwks_cache_key(client)
    text = cache.get(key)
    if text is not None:
        keys = _key_set(text)
        if kid is None or any(k.kid == kid for k in keys.keys):
            return keys
        # An unknown kid is read before any signature is checked: anyone naming the client
        # could make the server fetch its jwks_uri on every request. One early fetch per
        # client per JWKS_REFETCH_SECONDS; otherwise the cached keys decide.
        if not cache.add(key + ":refetched", 1, JWKS_REFETCH_SECONDS):
            return keys
    text = _fetch_jwks(client.jwks_uri)
    cache.set(key, text, JWKS_CACHE_SECONDS)
    return _key_set(text)


def _fetch_jwks(uri: str) -> str:
    try:
        fetched = fetch.fetch(
            uri, accept=JWKS_MEDIA_TYPES, max_bytes=JWKS_MAX_BYTES, timeout=JWKS_FETCH_TIMEOUT
        )
        return metadata.jwks_text(json.loads(fetched.body))
    except fetch.FetchError as exc:
        raise _refuse(f"the client's jwks_uri could not be fetched: {exc.reason}") from None
    except jose.MALFORMED:
        raise _refuse("the client's jwks_uri does not serve JSON") from None
    except metadata.RegistrationError as exc:
        raise _refuse(
            f"the client's jwks_uri serves no usable key set: {exc.description}"
        ) from None


def _key_set(text: str) -> KeySet:
    try:
        return KeySet.import_key_set(json.loads(text))
    except jose.MALFORMED:
        raise _refuse("the client's key set cannot be read") from None


def _check_claims(claims: dict[str, Any], client_id: str, audiences: set[str]) -> None:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _refuse("the assertion's iss and sub must both be the client_id")
    aud = claims.get("aud")
    named = aud if isinstance(aud, list) else [aud]
    if not audiences.intersection(a for a in named if isinstance(a, str)):
        raise _refuse("client assertion aud does not match the endpoint")
    now = int(time.time())
    exp = jose.numeric_date(claims.get("exp"))
    if exp is None:
        raise _refuse("client assertion must include exp claim")
    if exp <= now:
        raise _refuse("client assertion has expired")
    if exp - now > MAX_LIFETIME:
        raise _refuse(f"client assertion exp is too far in the future (max {MAX_LIFETIME}s)")
    # Optional, but a date when present (RFC 7519 4.1.4-6).
    dates = {claim: jose.numeric_date(claims[claim]) for claim in ("iat", "nbf") if claim in claims}
    for claim, date in dates.items():
        if date is None:
            raise _refuse(f"client assertion {claim} must be a NumericDate")
    iat, nbf = dates.get("iat"), dates.get("nbf")
    if iat is not None and now - iat > MAX_LIFETIME:
        raise _refuse(f"client assertion iat is too far in the past (max {MAX_LIFETIME}s)")
    if nbf is not None and nbf > now:  # RFC 7523 3 item 5; no leeway, as better-auth
        raise _refuse("client assertion is not valid yet (nbf)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _refuse("client assertion must include jti claim")
