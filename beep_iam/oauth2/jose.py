"""What reading an untrusted JOSE object (a token, an assertion, a proof, a key set) can
raise, in one place: joserfc's errors, bad base64 or JSON (``ValueError``, ``TypeError``),
and JSON nested past Python's recursion limit (``RecursionError``, neither of those). Each
means the sender's input is malformed: the protocol's error, never a server error."""

from __future__ import annotations

import math

from joserfc.errors import JoseError

MALFORMED: tuple[type[Exception], ...] = (JoseError, ValueError, TypeError, RecursionError)
#: JWK members that are private key material (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2): never
#: published, never accepted where a public key is expected.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def numeric_date(value: object) -> float | None:
    """A claim's value as RFC 7519's NumericDate, or None when it is not one: a finite JSON
    number (Python's JSON reader takes ``NaN`` and ``Infinity``, which compare false with
    everything and then fail where a date is made of them, and integers of any size)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an int of hundreds of digits is no float: OverflowError
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
