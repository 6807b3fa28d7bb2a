"""Signing keys in the ``jwks`` table, in the form better-auth's jwt plugin writes and reads.

A row holds the public JWK (JSON) and the private JWK: as JSON text, or, when the database is
shared with a better-auth server (``BEEP_IAM["BETTER_AUTH_SECRET"]`` set), encrypted as that
plugin encrypts it: XChaCha20-Poly1305 under SHA-256(secret), the 24-byte nonce prepended,
hex encoded and stored as a JSON string. The key id (``kid``) is the row's id.

Keys of three algorithms, as that plugin's ``keyPairConfig.alg`` makes them: ``EdDSA``
(Ed25519, the default, better-auth's too), ``ES256`` (P-256) and ``RS256`` (RSA 2048; what
OpenID Connect requires a provider to offer and assumes for a client that names no
algorithm). A row whose ``alg`` is NULL (from before better-auth had the column) is what its
public key is (:func:`row_alg`).

Signing with an algorithm uses its newest key that has not expired (``expires_at`` ends
signing), created on first use; JWKS publishes every key until ``expires_at`` plus
:data:`GRACE_PERIOD`, so tokens signed before a rotation keep verifying (better-auth's
``jwks.gracePeriod`` default).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, cast

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import router
from django.db.models import Q, QuerySet
from django.db.models.signals import post_save
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from beep_iam.conf import SIGNING_ALGORITHMS, SIGNING_KEYS, iam_settings
from beep_iam.models import Jwks, OAuthClient, OAuthResource
from beep_iam.oauth2 import jose
from beep_iam.services.prepared import ModelLookup

#: The default algorithm, and the one of rows without ``alg`` (better-auth's default).
ALG: Final = "EdDSA"
ALGORITHMS: Final = SIGNING_ALGORITHMS
#: conf.SIGNING_KEYS read the other way: a public key's type and curve -> the algorithm.
_KEY_SHAPES: Final[dict[tuple[object, object], str]] = {
    (kty, shape if isinstance(shape, str) else None): alg
    for alg, (kty, shape) in SIGNING_KEYS.items()
}
GRACE_PERIOD = timedelta(days=30)

# better-auth's jwt plugin signs with "EdDSA" (RFC 8037); RFC 9864 prefers "Ed25519", but the
# two servers must name the algorithm alike for either's tokens to verify at the other.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


# --- better-auth's symmetricEncrypt (XChaCha20-Poly1305) --------------------------------------

_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_MASK = 0xFFFFFFFF


def _rotl(v: int, c: int) -> int:
    return ((v << c) & _MASK) | (v >> (32 - c))


def _quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 7)


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """The XChaCha20 subkey (draft-irtf-cfrg-xchacha section 2.2); ``cryptography`` offers
    ChaCha20-Poly1305 but not its extended-nonce form."""
    s = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12)
        _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14)
        _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15)
        _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13)
        _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *s[0:4], *s[12:16])


@sensitive_variables("secret", "key")
def _aead(secret: str, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    key = hashlib.sha256(secret.encode()).digest()
    return ChaCha20Poly1305(_hchacha20(key, nonce[:16])), b"\0\0\0\0" + nonce[16:]


@sensitive_variables("secret", "data")
def encrypt(secret: str, data: str) -> str:
    """better-auth's ``symmetricEncrypt({key: secret, data})``: hex of nonce + ciphertext."""
    nonce = os.urandom(24)
    aead, inner = _aead(secret, nonce)
    return (nonce + aead.encrypt(inner, data.encode(), None)).hex()


@sensitive_variables("secret", "hex_data", "raw")
def decrypt(secret: str, hex_data: str) -> str:
    """better-auth's ``symmetricDecrypt``; ``ValueError`` when the data or secret is wrong."""
    raw = bytes.fromhex(hex_data)
    if len(raw) < 24 + 16:
        raise ValueError("ciphertext too short")
    aead, inner = _aead(secret, raw[:24])
    try:
        return aead.decrypt(inner, raw[24:], None).decode()
    except Exception as exc:  # cryptography's InvalidTag
        raise ValueError("cannot decrypt: wrong secret or corrupted data") from exc


# --- keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: OKPKey | ECKey | RSAKey


@sensitive_variables("private_jwk", "text", "secret")
def _store_private(private_jwk: dict[str, Any]) -> str:
    text = json.dumps(private_jwk, separators=(",", ":"))
    secret = iam_settings().better_auth_secret
    return json.dumps(encrypt(secret, text)) if secret else text


@sensitive_variables("stored", "secret", "data")
def _load_private(row: Jwks) -> dict[str, Any]:
    stored = json.loads(row.private_key)
    if isinstance(stored, dict):  # better-auth's disablePrivateKeyEncryption form
        return stored
    secret = iam_settings().better_auth_secret
    if not secret:
        raise ImproperlyConfigured(
            f"Signing key {row.pk} is encrypted (better-auth's form); set "
            "BEEP_IAM['BETTER_AUTH_SECRET'] to the better-auth secret to use it."
        )
    try:
        data: dict[str, Any] = json.loads(decrypt(secret, stored))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Signing key {row.pk} does not decrypt with BEEP_IAM['BETTER_AUTH_SECRET']: the "
            "secret differs from the one that encrypted it."
        ) from exc
    return data


def row_alg(row: Jwks) -> str | None:
    """The algorithm of a key row: its ``alg``, or, for a row without one (written before
    better-auth had the column; it reads such a row as its configured algorithm), what its
    public key is. None: a key this server does not sign with."""
    if row.alg:
        return row.alg
    try:
        public = json.loads(row.public_key)
    except ValueError:
        return None
    if not isinstance(public, dict):
        return None
    return _KEY_SHAPES.get((public.get("kty"), public.get("crv")))


def _of_alg(alg: str) -> Q:
    # Rows without alg are candidates for every algorithm; row_alg() says which they are.
    return Q(alg=alg) | Q(alg__isnull=True)


def _rows_of(rows: Iterable[Jwks], alg: str) -> list[Jwks]:
    return [row for row in rows if row_alg(row) == alg]


def _check_alg(alg: str) -> None:
    if alg not in SIGNING_KEYS:
        raise ValueError(f"unsupported signing algorithm {alg!r}; one of {', '.join(ALGORITHMS)}")


def create_key(*, alg: str = ALG, expire_current: bool = False) -> Jwks:
    """Make a new key pair for ``alg``; ``expire_current`` ends signing with the older keys
    of that algorithm (they stay published for :data:`GRACE_PERIOD`)."""
    _check_alg(alg)
    kty, size_or_curve = SIGNING_KEYS[alg]
    key = JWKRegistry.generate_key(kty, size_or_curve)
    now = timezone.now()
    if expire_current:
        current = _rows_of(Jwks.objects.unexpired(now).filter(_of_alg(alg)), alg)
        Jwks.objects.filter(pk__in=[row.pk for row in current]).update(expires_at=now)
    return Jwks.objects.create(
        public_key=json.dumps(key.as_dict(private=False), separators=(",", ":")),
        private_key=_store_private(key.as_dict(private=True)),
        alg=alg,
        crv=size_or_curve if isinstance(size_or_curve, str) else None,
    )


# Decrypting (HChaCha20 in Python) and importing a private key cost about 0.4 ms, once per ID
# token otherwise. The row is still read per token, so a rotation or an expiry takes effect at
# once; only the imported key is kept, per row, stored form and secret.
PrivateKey = OKPKey | ECKey | RSAKey
_imported: dict[tuple[str, str, str | None], PrivateKey] = {}
_IMPORTED_MAX = 8


def _private_key(row: Jwks) -> PrivateKey:
    cache_key = (row.pk, row.private_key, iam_settings().better_auth_secret)
    key = _imported.get(cache_key)
    if key is None:
        key = cast(PrivateKey, JWKRegistry.import_key(_load_private(row)))  # by its kty
        if len(_imported) >= _IMPORTED_MAX:
            _imported.clear()
        _imported[cache_key] = key
    return key


def _signing_keys(now: Any, alg: str | None) -> QuerySet[Jwks]:
    unexpired = Jwks.objects.unexpired(now)
    if alg is None:  # any algorithm this server signs with
        return unexpired.filter(Q(alg__in=ALGORITHMS) | Q(alg__isnull=True))
    return unexpired.filter(_of_alg(alg))


def _newest_key(alg: str) -> ModelLookup[Jwks]:
    def query(now: Any) -> QuerySet[Jwks]:
        # One row, also where the lookup rides on another statement (NewestKeyRead).
        return _signing_keys(now, alg).order_by("-created_at", "-row_id")[:1]

    return ModelLookup(Jwks, query)


# Read per ID token (with the client where NewestKeyRead rides on its statement): compiled
# once per algorithm, one prepared statement.
_NEWEST_KEY = {alg: _newest_key(alg) for alg in ALGORITHMS}


class NewestKeyRead:
    """The newest key of ``alg``, read in the statement that loads the client of a token
    request (``authenticate_client(along=...)``): the ID token it may issue then costs no
    round trip for its key. Read at the request's start, so a rotation still takes effect
    from the next request on; :func:`signing_key` uses it inside :func:`reading_along`."""

    def __init__(self, alg: str) -> None:
        _check_alg(alg)
        self.alg = alg
        self.row: Jwks | None = None  # None: not read along, or no key yet

    def load_client(self, lookup: ModelLookup[OAuthClient], client_id: str) -> OAuthClient | None:
        """``lookup.get(client_id)``, reading the key along when both live on one database."""
        alias = router.db_for_read(Jwks)
        if alias != router.db_for_read(OAuthClient):
            return lookup.get(client_id)
        newest = _NEWEST_KEY[self.alg]
        tail, params = newest.as_tail(timezone.now(), using=alias)
        client, values = lookup.get_with(client_id, tail, params, using=alias)
        if client is not None:
            self.row = newest.from_tail(values, using=alias)
        return client


_read_along: ContextVar[NewestKeyRead | None] = ContextVar("beep_iam_key_read", default=None)


@contextmanager
def reading_along(read: NewestKeyRead | None) -> Iterator[None]:
    """Inside, :func:`signing_key` takes ``read``'s key where it read one of the wanted
    algorithm."""
    token = _read_along.set(read)
    try:
        yield
    finally:
        _read_along.reset(token)


def _newest_row(alg: str, now: Any) -> Jwks | None:
    read = _read_along.get()
    if read is not None and read.alg == alg and read.row is not None:
        return read.row
    return _NEWEST_KEY[alg].get(now)


def signing_key(kid: str | None = None, *, alg: str = ALG) -> SigningKey:
    """The newest unexpired key of ``alg``, created when there is none (as better-auth
    does); with ``kid``, that key if it is unexpired and of an algorithm this server signs
    with (whatever ``alg`` says), else ``LookupError``."""
    now = timezone.now()
    if kid is not None:
        try:
            row = _signing_keys(now, None).filter(pk=kid).first()
        except ValidationError:  # not even the form of a key id
            row = None
        if row is None or row_alg(row) not in ALGORITHMS:
            raise LookupError(f"no unexpired signing key {kid}")
    else:
        _check_alg(alg)
        row = _newest_row(alg, now)
        if row is not None and row_alg(row) != alg:  # a row without alg, of another key type
            newest = _signing_keys(now, alg).order_by("-created_at", "-row_id")
            row = next(iter(_rows_of(newest, alg)), None)
        if row is None:
            row = create_key(alg=alg)
    return SigningKey(kid=row.pk, alg=str(row_alg(row)), key=_private_key(row))


def ensure_signing_keys(algs: Iterable[str]) -> None:
    """A key for each of ``algs`` (those this server signs with), made now where there is
    none: published before the first token that needs it, so a relying party that read the
    JWKS once knows it."""
    wanted = set(algs) & set(ALGORITHMS)
    if not wanted:
        return
    present = {row_alg(row) for row in _signing_keys(timezone.now(), None)}
    for alg in sorted(wanted - present):
        create_key(alg=alg)


def _ensure_registered_alg(sender: Any, instance: Any, **kwargs: Any) -> None:
    alg = instance.registered("id_token_signed_response_alg")
    if isinstance(alg, str):
        ensure_signing_keys([alg])


def _ensure_required_alg(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.signing_algorithm:
        ensure_signing_keys([instance.signing_algorithm])


def connect() -> None:
    """A client that registers an ID token algorithm, or a resource that requires one for
    its access tokens, gets that algorithm's key published (from ``ready()``; whatever saved
    it: registration, a metadata document, the admin, the services)."""
    post_save.connect(_ensure_registered_alg, sender=OAuthClient, dispatch_uid="beep_iam_keys")
    post_save.connect(
        _ensure_required_alg, sender=OAuthResource, dispatch_uid="beep_iam_resource_keys"
    )


@dataclass(frozen=True)
class Published:
    """The keys a token of this server may be signed with: the public JWKs, as better-auth's
    ``/jwks`` lists them, and when each stops or stopped signing (``expires_at``, epoch
    seconds; none for a key without one)."""

    keys: list[dict[str, Any]]
    signing_ends: dict[str, float]

    def signed_while_current(
        self, kid: object, claims: dict[str, Any], *, lifetime: float | None = None
    ) -> bool:
        """Whether a token's ``iat`` says key ``kid`` still signed then and, with
        ``lifetime``, its ``exp`` falls within that of the key's end: a retired key stays
        published for :data:`GRACE_PERIOD` so that its tokens verify, not so that whoever
        holds it may sign new ones (or old ones that never expire)."""
        ended = self.signing_ends.get(kid) if isinstance(kid, str) else None
        if ended is None:
            return True
        issued = jose.numeric_date(claims.get("iat"))
        if issued is None or issued > ended + SIGNED_LEEWAY_SECONDS:
            return False
        if lifetime is None:
            return True
        expires = jose.numeric_date(claims.get("exp"))
        return expires is not None and expires <= ended + lifetime + SIGNED_LEEWAY_SECONDS


#: Clock skew between servers sharing the keys, allowed where a token's dates are compared
#: with the end of its key's signing.
SIGNED_LEEWAY_SECONDS = 60


def published() -> Published:
    """The published keys, each until ``expires_at`` plus :data:`GRACE_PERIOD`."""
    rows = Jwks.objects.unexpired(timezone.now() - GRACE_PERIOD).order_by("-created_at", "-row_id")
    keys, signing_ends = [], {}
    for row in rows:
        public = json.loads(row.public_key)
        for member in jose.PRIVATE_MEMBERS:  # never private material, whatever the row holds
            public.pop(member, None)
        alg = row_alg(row)
        named = {**({"alg": alg} if alg else {}), **({"crv": row.crv} if row.crv else {})}
        keys.append({**named, **public, "kid": row.pk})
        if row.expires_at is not None:
            signing_ends[row.pk] = row.expires_at.timestamp()
    return Published(keys, signing_ends)


def published_keys() -> list[dict[str, Any]]:
    """The public JWKs, as better-auth's ``/jwks`` lists them."""
    return published().keys
