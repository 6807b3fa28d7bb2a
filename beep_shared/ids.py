"""Entity ids: ``"<table>__<uuid>"`` text primary keys with time-ordered UUIDv7 values."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

from django.core.exceptions import ValidationError

SEPARATOR = "__"
ECHO_LIMIT = 100  # characters of a rejected value repeated in its error message
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_lock = threading.Lock()
_last_ms = 0
_last_rand_a = 0


def uuid7() -> uuid.UUID:
    """Return an RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits.

    Within one millisecond the 12-bit ``rand_a`` field counts up, so ids made by one process
    sort in creation order and B-tree inserts stay on the right-most page.
    """
    global _last_ms, _last_rand_a
    random_bits = int.from_bytes(os.urandom(10), "big")
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand_a = _last_rand_a + 1
            if rand_a > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                rand_a = random_bits >> 68
        else:
            rand_a = random_bits >> 68
        _last_ms, _last_rand_a = ms, rand_a
    rand_b = random_bits & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand_a & 0xFFF) << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def make_id(prefix: str) -> str:
    return f"{prefix}{SEPARATOR}{uuid7()}"


def is_valid_id(prefix: str, value: object) -> bool:
    if not isinstance(value, str):
        return False
    head, sep, tail = value.rpartition(SEPARATOR)
    return head == prefix and sep == SEPARATOR and _UUID_RE.fullmatch(tail) is not None


def validate_id(prefix: str, value: object) -> str:
    """Return ``value`` if it is an id of ``prefix``; raise ``ValidationError`` otherwise."""
    if is_valid_id(prefix, value):
        return value  # type: ignore[return-value]
    shown = repr(value)
    if len(shown) > ECHO_LIMIT:  # a 10 MB value must not become a 10 MB message
        shown = f"{shown[: ECHO_LIMIT - 3]}..."
    raise ValidationError(
        "%(value)s is not a valid %(prefix)s id: expected '%(prefix)s__<uuid>' "
        "with a lower-case hyphenated UUID.",
        code="invalid_entity_id",
        params={"value": shown, "prefix": prefix},
    )


def parse_id(prefix: str, value: object) -> uuid.UUID:
    """Return the UUID part of a valid id of ``prefix``."""
    return uuid.UUID(validate_id(prefix, value).rpartition(SEPARATOR)[2])
