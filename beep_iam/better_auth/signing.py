"""better-call's signed cookie values, as better-auth writes its session cookie.

``value.signature`` percent-encoded (``encodeURIComponent``), where ``signature`` is the
standard base64 (with padding: 44 characters) of ``HMAC-SHA256(secret, value)``, both as
UTF-8. better-call reads it back by splitting at the *last* dot and rejecting any signature
that is not 44 characters ending in ``=``; so does :func:`unsign`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import quote, unquote

from django.views.decorators.debug import sensitive_variables

SIGNATURE_LENGTH = 44
# encodeURIComponent leaves these unescaped; quote() must too, or the cookie differs.
_URI_COMPONENT_SAFE = "-_.!~*'()"


@sensitive_variables()
def signature(value: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


@sensitive_variables()
def sign(value: str, secret: str) -> str:
    """The cookie value better-call's ``setSignedCookie`` writes for ``value``."""
    return quote(f"{value}.{signature(value, secret)}", safe=_URI_COMPONENT_SAFE)


@sensitive_variables()
def unsign(cookie_value: str, secret: str) -> str | None:
    """The signed value of a cookie, or ``None`` when it is malformed or its signature is bad.

    ``cookie_value`` is the cookie as sent (percent-encoded); the comparison is constant-time.
    """
    try:
        decoded = unquote(cookie_value, errors="strict")
    except UnicodeDecodeError:
        return None
    value, dot, sig = decoded.rpartition(".")
    if not dot or not value or len(sig) != SIGNATURE_LENGTH or not sig.endswith("="):
        return None
    try:
        presented = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return value if hmac.compare_digest(presented, expected) else None
