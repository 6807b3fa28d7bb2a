"""Random tokens and the digests that are stored instead of them.

Stored form: SHA-256 of the UTF-8 token, base64url without padding. This is better-auth's
"hashed" storage, so a value written by either side verifies on the other.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import secrets

# base64 -> base64url; the 44th character of a 32-byte digest's encoding is the padding.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def generate_token(nbytes: int = 32) -> str:
    """A URL-safe random token carrying ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def digest(raw: str) -> str:
    """SHA-256 of ``raw``, base64url encoded without padding (43 characters)."""
    # C calls only: this runs on every token, code and secret presented (base64's Python
    # wrappers cost more than the hash).
    sha = hashlib.sha256(raw.encode()).digest()
    return binascii.b2a_base64(sha, newline=False).translate(_URLSAFE)[:43].decode()


def matches(raw: str, stored_digest: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(raw).encode(), stored_digest.encode())
