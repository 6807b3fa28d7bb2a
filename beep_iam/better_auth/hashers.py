"""better-auth's password hash as a Django password hasher.

better-auth (1.4 and 1.7 lines, ``@better-auth/utils/password`` / ``better-auth/crypto``) stores
``<salt>:<key>`` in ``account.password``: ``salt`` is 16 random bytes written as 32 hex digits
and is used *as that text* (its UTF-8 bytes) for scrypt; ``key`` is
``scrypt(NFKC(password), salt, N=16384, r=16, p=1, dkLen=64)`` in hex.

Django's encoded form of the same hash is ``better_auth_scrypt$<salt>$<key>``, so one value
converts to the other without the password (:func:`to_better_auth`, :func:`from_better_auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from typing import Any

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _
from django.views.decorators.debug import sensitive_variables

ALGORITHM = "better_auth_scrypt"
N, R, P, DKLEN = 16384, 16, 1, 64
# Twice scrypt's working set (128 * N * r), as better-auth passes to node:crypto.
MAXMEM = 128 * N * R * 2

_BETTER_AUTH_FORM = re.compile(r"^([0-9a-f]{32}):([0-9a-f]{128})$")


@sensitive_variables()
def derive_key(password: str, salt: str) -> str:
    """The hex scrypt key better-auth computes for ``password`` and the text ``salt``."""
    normalized = unicodedata.normalize("NFKC", password)
    key = hashlib.scrypt(
        normalized.encode(), salt=salt.encode(), n=N, r=R, p=P, dklen=DKLEN, maxmem=MAXMEM
    )
    return key.hex()


def is_better_auth_hash(value: str | None) -> bool:
    """Whether ``value`` is a hash in better-auth's ``salt:key`` form."""
    return bool(value) and _BETTER_AUTH_FORM.match(value or "") is not None


def to_better_auth(encoded: str) -> str:
    """``better_auth_scrypt$salt$key`` -> ``salt:key``; ValueError for any other hash."""
    algorithm, salt, key = [*encoded.split("$", 2), "", ""][:3]
    converted = f"{salt}:{key}"
    if algorithm != ALGORITHM or not is_better_auth_hash(converted):
        raise ValueError("not a better_auth_scrypt password hash")
    return converted


def from_better_auth(stored: str) -> str:
    """``salt:key`` (better-auth's ``account.password``) -> Django's encoded form."""
    match = _BETTER_AUTH_FORM.match(stored)
    if match is None:
        raise ValueError("not a better-auth password hash")
    return f"{ALGORITHM}${match[1]}${match[2]}"


@sensitive_variables()
def hash_for_better_auth(password: str) -> str:
    """A fresh better-auth hash (``salt:key``) of ``password``."""
    salt = secrets.token_bytes(16).hex()
    return f"{salt}:{derive_key(password, salt)}"


@sensitive_variables()
def verify_better_auth(password: str, stored: str | None) -> bool:
    """Constant-time check of ``password`` against better-auth's ``salt:key`` hash."""
    match = _BETTER_AUTH_FORM.match(stored or "")
    if match is None:
        return False
    return hmac.compare_digest(derive_key(password, match[1]).encode(), match[2].encode())


class BetterAuthScryptPasswordHasher(BasePasswordHasher):
    """Reads and writes better-auth's scrypt hashes; put it first in ``PASSWORD_HASHERS``
    to give ``user.password`` the very hash better-auth keeps in the credential account."""

    algorithm = ALGORITHM

    def salt(self) -> str:
        # better-auth's salt is 16 random bytes in hex, used as text.
        return secrets.token_bytes(16).hex()

    @sensitive_variables()
    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("better_auth_scrypt needs a password and a salt without '$'")
        return f"{self.algorithm}${salt}${derive_key(password, salt)}"

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, salt, key = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "salt": salt, "hash": key}

    @sensitive_variables()
    def verify(self, password: str, encoded: str) -> bool:
        try:
            stored = to_better_auth(encoded)
        except ValueError:
            return False
        return verify_better_auth(password, stored)

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("work factor"): f"N={N}, r={R}, p={P}",
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        # better-auth's parameters are fixed; a rehash would change nothing.
        return False

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None
