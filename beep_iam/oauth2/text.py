"""Text that goes into an OAuth error response."""

from __future__ import annotations


def printable(description: str) -> str:
    """``description`` in the characters RFC 6749 5.2 allows in ``error_description``
    (%x20-21 / %x23-5B / %x5D-7E). Authlib refuses any other when the error is built, and
    rule messages quote the offending value, so every message built from input passes here
    first."""
    text = description.replace('"', "'").replace("\\", "/")
    return "".join(ch if 0x20 <= ord(ch) <= 0x7E else "?" for ch in text)[:500]
