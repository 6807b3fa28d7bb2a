"""DPoP (RFC 9449): proofs of possession of a key, and tokens bound to that key.

A client that sends a ``DPoP`` header (a ``dpop+jwt`` signed with a private key whose public
JWK is in the header) to the token endpoint gets tokens bound to that key: the access token's
``confirmation`` column holds ``{"jkt": <RFC 7638 SHA-256 thumbprint>}``, as better-auth 1.7
stores it, and the response says ``"token_type": "DPoP"``. A public client's refresh token is
bound too (RFC 9449 5): refreshing it needs a proof made with the same key. At the resource
side (``require_oauth``, the DRF classes) a bound token is accepted only as
``Authorization: DPoP <token>`` with a proof of the same key for that request (``htm``,
``htu``, ``ath``); as ``Bearer`` it is refused.

Replay: a proof is accepted once. Its key is better-auth's (SHA-256 of ``jkt``, ``htm``,
``htu``, ``jti``), reserved until the proof's ``iat`` leaves the accepted window. The default
store is the database, in better-auth's own form (a ``verification`` row whose primary key
is derived from the replay key, inserted first-writer-wins): correct across workers, hosts and
a co-tenant better-auth server, for one indexed INSERT per proof. ``REPLAY_STORE = "cache"``
uses Django's default cache instead (``cache.add``), correct only when that cache is shared
by every worker (Redis, Memcached, the database cache; not the per-process local-memory one).

Nonces (RFC 9449 8, 9) are stateless: an HMAC of a time window under ``SECRET_KEY``, valid for
the current and the previous window, so every worker accepts every other's nonce without
shared state. ``NONCE_REQUIRED`` makes every proof carry one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.core.cache import cache
from django.db import connections, router
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables
from joserfc import jws
from joserfc.jwk import JWKRegistry

from beep_iam.conf import DPoPSettings, iam_settings
from beep_iam.models import OAuthClient, Verification
from beep_iam.models.oauth import TokenEndpointAuthMethod
from beep_iam.oauth2 import jose
from beep_iam.oauth2.endpoint import challenge_params, endpoint_url

TYPE = "dpop+jwt"
HEADER = "HTTP_DPOP"
#: iat up to this far in the future is accepted (clock skew), as better-auth does.
FUTURE_SKEW = 5
MAX_JTI_LENGTH = 512
MAX_PROOF_LENGTH = 8192
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
#: A SHA-256 JWK thumbprint, base64url without padding (``dpop_jkt``, ``cnf.jkt``).
JKT = re.compile(r"[A-Za-z0-9_-]{43}")


class _ProofRegistry(jws.JWSRegistry):
    # The header carries the public key: an RSA one alone passes joserfc's default 512 bytes.
    max_header_length = MAX_PROOF_LENGTH
    max_payload_length = MAX_PROOF_LENGTH


def conf() -> DPoPSettings:
    return iam_settings().oauth2_dpop


# --- errors ---------------------------------------------------------------------------------


class DPoPError(OAuth2Error):
    """RFC 9449's errors at the token endpoint (400, section 5 / 8): ``invalid_dpop_proof``,
    or ``use_dpop_nonce`` with a ``DPoP-Nonce`` header. At the resource side the same error
    becomes a 401 with a ``WWW-Authenticate: DPoP`` challenge (section 7.1)."""

    status_code = 400

    def __init__(self, error: str, description: str, *, nonce: str | None = None) -> None:
        super().__init__(description=description)
        self.error = error
        self.nonce = nonce

    def get_headers(self) -> list[tuple[str, str]]:
        headers = list(super().get_headers())
        if self.nonce is not None:
            headers.append(("DPoP-Nonce", self.nonce))
        return headers


def invalid_proof(description: str) -> DPoPError:
    return DPoPError("invalid_dpop_proof", description)


def challenge(
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """A ``WWW-Authenticate: DPoP`` challenge naming the accepted algorithms (RFC 9449 7.1),
    with RFC 9728's ``resource_metadata`` when given."""
    parts = challenge_params(error, description, scope, resource_metadata)
    parts.append(f'algs="{" ".join(conf().algorithms)}"')
    return "DPoP " + ", ".join(parts)


# --- nonces ---------------------------------------------------------------------------------


def _nonce_for(window: int) -> str:
    mac = salted_hmac("beep_iam.oauth2.dpop.nonce", str(window), algorithm="sha256").digest()
    return f"{window:x}.{_b64(mac[:18])}"


def current_nonce() -> str:
    return _nonce_for(int(time.time()) // conf().nonce_lifetime)


def _nonce_valid(nonce: Any) -> bool:
    if not isinstance(nonce, str) or len(nonce) > 64:
        return False
    window = int(time.time()) // conf().nonce_lifetime
    return any(hmac.compare_digest(nonce, _nonce_for(w)) for w in (window, window - 1))


# --- proofs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    jkt: str
    jti: str
    htm: str
    htu: str
    iat: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def access_token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the access token (RFC 9449 4.2)."""
    return _b64(hashlib.sha256(token.encode()).digest())


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4.
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if len(output) > 0:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/" + "/".join(output)


def normalize_htu(url: str) -> str:
    """``url`` without query and fragment, after RFC 3986's syntax- and scheme-based
    normalization (6.2.2, 6.2.3): lower-case scheme and host, no default port, percent
    escapes of unreserved characters decoded and the others upper-cased, dot segments
    removed, an empty path as ``/``. ``ValueError`` for anything but an absolute http(s) URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ValueError("not an absolute http(s) URL")
    port = parts.port  # ValueError when malformed
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"

    def escape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if quote(char, safe="-._~") == char else f"%{match.group(1).upper()}"

    path = _UNRESERVED.sub(escape, parts.path) or "/"
    return f"{scheme}://{host}{_remove_dot_segments(path)}"


_RESERVE_SQL = (
    "INSERT INTO verification (id, identifier, value, expires_at) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id"
)
_RESERVE_ASYNC_SQL = (
    "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "INSERT INTO verification (id, identifier, value, expires_at) "
    "SELECT %s, %s, %s, %s FROM async ON CONFLICT (id) DO NOTHING RETURNING id"
)


def _reserve(proof: Proof) -> bool:
    """Reserve the proof's replay key; False when it was reserved before (a replay)."""
    settings = conf()
    key = _b64(
        hashlib.sha256(f"{proof.jkt}\n{proof.htm}\n{proof.htu}\n{proof.jti}".encode()).digest()
    )
    expires = proof.iat + settings.proof_max_age
    if settings.replay_store == "cache":
        timeout = max(1, expires - int(time.time()) + 1)
        return bool(cache.add(f"beep_iam:dpop:{key}", 1, timeout))
    # better-auth's reserveVerificationValue: identifier "dpop-proof:<key>", the row's id the
    # SHA-256 of "reserve:" + identifier, so a proof is used once across both servers too.
    identifier = f"dpop-proof:{key}"
    row_id = _b64(hashlib.sha256(f"reserve:{identifier}".encode()).digest())
    alias = router.db_for_write(Verification)
    connection = connections[alias]
    # Alone in its transaction, the reservation commits without waiting for the WAL flush
    # (it is visible to every session at once; only a crash of the database in the next
    # fraction of a second could forget it): the flush would cost more than the whole check.
    sql = _RESERVE_ASYNC_SQL if not connection.in_atomic_block else _RESERVE_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, (row_id, identifier, key, datetime.fromtimestamp(expires, tz=UTC)))
        return cursor.fetchone() is not None


@sensitive_variables("access_token")
def verify(
    proof_jwt: str,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    expected_jkt: str | None = None,
) -> Proof:
    """Check a DPoP proof as RFC 9449 4.3 says and reserve it against replay; return it.

    ``access_token``: the token presented with it at a resource (``ath`` must match);
    ``expected_jkt``: the key the token is bound to. Raises :class:`DPoPError`."""
    settings = conf()
    if len(proof_jwt) > MAX_PROOF_LENGTH or proof_jwt.count(".") != 2:
        raise invalid_proof("the DPoP proof must be one compact JWS")
    try:
        segment = proof_jwt.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except jose.MALFORMED:
        raise invalid_proof("the DPoP proof is not a well-formed JWS") from None
    if not isinstance(header, dict):
        raise invalid_proof("the DPoP proof is not a well-formed JWS")
    if header.get("typ") != TYPE:
        raise invalid_proof(f"the DPoP proof typ must be {TYPE}")
    alg = header.get("alg")
    if alg not in settings.algorithms:
        raise invalid_proof(
            f"the DPoP proof must be signed with one of {', '.join(settings.algorithms)}"
        )
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") in (None, "oct"):
        raise invalid_proof("the DPoP proof header must carry the public key as jwk")
    if jose.PRIVATE_MEMBERS & set(jwk):
        raise invalid_proof("the DPoP proof jwk must not contain private key material")
    try:
        key = JWKRegistry.import_key(jwk)
        payload = jws.deserialize_compact(
            proof_jwt, key, algorithms=[alg], registry=_ProofRegistry(algorithms=[alg])
        ).payload
        claims = json.loads(payload)
    except jose.MALFORMED:
        raise invalid_proof("the DPoP proof signature or key is invalid") from None
    if not isinstance(claims, dict):
        raise invalid_proof("the DPoP proof payload must be a JSON object")
    jti, htm, htu, iat = (claims.get(c) for c in ("jti", "htm", "htu", "iat"))
    if not (isinstance(jti, str) and jti and isinstance(htm, str) and isinstance(htu, str)):
        raise invalid_proof("the DPoP proof must carry jti, htm, htu and iat")
    iat = jose.numeric_date(iat)
    if iat is None:
        raise invalid_proof("the DPoP proof must carry jti, htm, htu and iat")
    if len(jti) > MAX_JTI_LENGTH:
        raise invalid_proof("the DPoP proof jti is too long")
    if htm != method:
        raise invalid_proof("the DPoP proof htm does not match the request method")
    try:
        matches = normalize_htu(htu) == normalize_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise invalid_proof("the DPoP proof htu does not match the request URL")
    now = int(time.time())
    if iat > now + FUTURE_SKEW or now - iat > settings.proof_max_age:
        raise invalid_proof("the DPoP proof iat is outside the accepted window")
    if settings.nonce_required and not _nonce_valid(claims.get("nonce")):
        raise DPoPError(
            "use_dpop_nonce",
            "the authorization server requires a nonce in the DPoP proof",
            nonce=current_nonce(),
        )
    if access_token is not None and not (
        isinstance(claims.get("ath"), str)
        and hmac.compare_digest(claims["ath"], access_token_hash(access_token))
    ):
        raise invalid_proof("the DPoP proof ath does not match the access token")
    jkt = key.thumbprint()
    if expected_jkt is not None and not hmac.compare_digest(jkt, expected_jkt):
        raise invalid_proof("the DPoP proof key is not the one the token is bound to")
    proof = Proof(jkt=jkt, jti=jti, htm=htm, htu=normalize_htu(url), iat=int(iat))
    if not _reserve(proof):
        raise invalid_proof("the DPoP proof has been used before")
    return proof


def proof_header(request: HttpRequest) -> str | None:
    """The request's one ``DPoP`` header, None without; two (joined by a comma) refused."""
    value = request.META.get(HEADER)
    if value is None:
        return None
    if "," in value or not value.strip():
        raise invalid_proof("exactly one DPoP header is required")
    return value.strip()


def confirmation_jkt(confirmation: Any) -> str | None:
    if isinstance(confirmation, dict) and isinstance(confirmation.get("jkt"), str):
        return confirmation["jkt"] or None
    return None


# --- token endpoint -------------------------------------------------------------------------

_proof: ContextVar[Proof | None] = ContextVar("beep_iam_dpop_proof", default=None)
_at_token_endpoint: ContextVar[bool] = ContextVar("beep_iam_dpop_token_request", default=False)


def client_requires(client: OAuthClient) -> bool:
    """The client registered ``dpop_bound_access_tokens`` (better-auth's column, or the
    RFC 9449 5.2 metadata better-auth also reads)."""
    if client.dpop_bound_access_tokens:
        return True
    return client.registered("dpop_bound_access_tokens") is True


@contextmanager
def token_request(request: HttpRequest, client: OAuthClient) -> Iterator[None]:
    """Verify the token request's proof, if any, for the grant handlers inside (through
    :func:`binding` / :func:`refresh_binding`); a client that requires DPoP must send one."""
    raw = proof_header(request)
    proof = None
    if raw is not None:
        proof = verify(raw, method="POST", url=endpoint_url("token"))
    elif client_requires(client):
        raise invalid_proof("the client requires DPoP: a DPoP proof header is required")
    token = _proof.set(proof)
    inside = _at_token_endpoint.set(True)
    try:
        yield
    finally:
        _at_token_endpoint.reset(inside)
        _proof.reset(token)


def require_proof(description: str) -> None:
    """At the token endpoint, refuse a request without a DPoP proof (a resource that takes
    DPoP-bound tokens only); elsewhere (the authorization request) nothing to check yet."""
    if _at_token_endpoint.get() and _proof.get() is None:
        raise invalid_proof(description)


def response_headers() -> dict[str, str]:
    """A fresh nonce with every token response while nonces are required (RFC 9449 8.2)."""
    return {"DPoP-Nonce": current_nonce()} if conf().nonce_required else {}


def binding(
    client: OAuthClient, code_jkt: str | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``confirmation`` of the access and refresh tokens to issue: the proof's key for
    the access token, and for a public client's refresh token too (RFC 9449 5).
    ``code_jkt``: the ``dpop_jkt`` of the authorization request (RFC 9449 10)."""
    proof = _proof.get()
    if code_jkt is not None and (proof is None or not hmac.compare_digest(proof.jkt, code_jkt)):
        raise invalid_proof("the DPoP proof key is not the dpop_jkt of the authorization request")
    if proof is None:
        return None, None
    cnf = {"jkt": proof.jkt}
    public = client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE
    return cnf, (cnf if public else None)


def refresh_binding(stored: Any) -> dict[str, Any] | None:
    """For ``rotate_refresh_token(bind=...)``: a bound refresh token needs a proof of its key;
    the new access token is bound to the proof's key, if any."""
    proof = _proof.get()
    bound = confirmation_jkt(stored)
    if stored not in (None, {}) and bound is None:
        raise invalid_proof("the refresh token is bound by a method this server cannot check")
    if bound is not None:
        if proof is None:
            raise invalid_proof("the refresh token is DPoP-bound: a DPoP proof is required")
        if not hmac.compare_digest(proof.jkt, bound):
            raise invalid_proof("the DPoP proof key is not the one the refresh token is bound to")
    return {"jkt": proof.jkt} if proof is not None else None


def request_url(request: HttpRequest) -> str:
    """The URL a resource request was sent to, as ``htu`` must name it (the host validated
    by ``ALLOWED_HOSTS``, the scheme as ``SECURE_PROXY_SSL_HEADER`` says)."""
    return request.build_absolute_uri(request.path)


# --- resource side --------------------------------------------------------------------------


#: RFC 6750 2.1's b64token: what an access token in the header may be.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class MalformedPresentation(Exception):
    """RFC 6750 3.1 ``invalid_request`` (400): a token that is no b64token, or a token sent
    in more than one way."""


def presentation(request: HttpRequest) -> tuple[str, str] | None:
    """``("Bearer" | "DPoP", token)`` from the ``Authorization`` header, or None; raises
    :class:`MalformedPresentation` for a malformed one or one sent twice."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    kind = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower())
    if kind is None or not value.strip():
        return None
    token = value.strip()
    if not _B64TOKEN.fullmatch(token):
        raise MalformedPresentation(f"the {kind} credentials are malformed")
    if "access_token" in request.GET:  # RFC 6750 2.3's form as well: two methods
        raise MalformedPresentation("send the access token one way: the Authorization header")
    return kind, token


@sensitive_variables("token")
def check_presentation(
    request: HttpRequest, scheme: str, token: str, bound_jkt: str | None, *, required: bool
) -> None:
    """RFC 9449 7: a DPoP-bound token only as ``DPoP`` with a proof of its key for this request
    (``htm``, ``htu``, ``ath``); a ``DPoP`` presentation only for a bound token; bearer tokens
    refused where DPoP is ``required``. Raises :class:`DPoPError` (``invalid_token``,
    ``invalid_dpop_proof`` or ``use_dpop_nonce``; the caller answers 401)."""
    if scheme == "Bearer":
        if bound_jkt is not None:
            raise DPoPError("invalid_token", "a DPoP-bound access token needs the DPoP scheme")
        if required:
            raise DPoPError("invalid_token", "this resource requires a DPoP-bound access token")
        return
    if bound_jkt is None:
        raise DPoPError("invalid_token", "the access token is not DPoP-bound")
    raw = proof_header(request)
    if raw is None:
        raise invalid_proof("a DPoP proof header is required")
    verify(
        raw,
        method=request.method or "GET",
        url=request_url(request),
        access_token=token,
        expected_jkt=bound_jkt,
    )
