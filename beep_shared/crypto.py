"""Random tokens and the digests that are stored instead of them.

Stored form: SHA-256 of the UTF-8 token, base64url without padding. This is better-auth's
"hashed" storage, so a value written by either side verifies on the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def generate_token(nbytes: int = 32) -> str:
    """A URL-safe random token carrying ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def digest(raw: str) -> str:
    """SHA-256 of ``raw``, base64url encoded without padding (43 characters)."""
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=").decode()


def matches(raw: str, stored_digest: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(raw).encode(), stored_digest.encode())
