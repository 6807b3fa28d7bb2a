"""User codes of the OAuth device authorization grant (RFC 8628).

A person types the user code shown by a device, often in another case or with the separators
removed or added, so codes are stored and compared in one normal form: ASCII upper-case letters
and digits only. :class:`UserCodeField` applies that form wherever a value reaches the database
(save, ``update()``, ``bulk_create`` and lookups such as ``filter(user_code=...)``), and a CHECK
constraint on the column refuses anything else written by raw SQL.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.core.validators import RegexValidator
from django.db import models

# RFC 8628 section 6.1: a base-20 alphabet without vowels (no words) and without characters that
# are easily confused (0/O, 1/I/L, 5/S...), 8 characters long: about 34 bits of entropy.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8

# What the CHECK constraint on the column enforces (PostgreSQL ``~``, Python ``re``).
NORMALIZED_USER_CODE_PATTERN = r"^[A-Z0-9]+$"
_NORMALIZED = re.compile(NORMALIZED_USER_CODE_PATTERN)

# Whitespace, hyphens, underscores, dots and the Unicode dashes that keyboards and
# copy-paste produce; they carry no meaning in a code.
_SEPARATORS = re.compile(r"[\s\-_.\u2010-\u2015\u2212]+")


def normalize_user_code(raw: str) -> str:
    """``raw`` upper-cased with separators removed: ``"bcdf-ghjk"`` -> ``"BCDFGHJK"``.

    Characters outside A-Z and 0-9 other than separators are kept, so an invalid code stays
    invalid (see :func:`is_normalized_user_code`) rather than turning into a valid one.
    """
    return _SEPARATORS.sub("", raw).upper()


def is_normalized_user_code(value: str) -> bool:
    """Whether ``value`` is already in the stored form (what the database CHECK accepts)."""
    return _NORMALIZED.fullmatch(value) is not None


def generate_user_code(length: int = USER_CODE_LENGTH) -> str:
    """A random user code in normal form, drawn from :data:`USER_CODE_ALPHABET`."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(length))


def format_user_code(code: str, group: int = 4) -> str:
    """The code as shown to people: ``"BCDFGHJK"`` -> ``"BCDF-GHJK"``."""
    code = normalize_user_code(code)
    return "-".join(code[i : i + group] for i in range(0, len(code), group))


validate_user_code = RegexValidator(
    NORMALIZED_USER_CODE_PATTERN,
    message="user_code must contain only the letters A-Z and the digits 0-9 "
    "(case, spaces and '-' are ignored).",
    code="invalid_user_code",
)


class UserCodeField(models.TextField):
    """Text column holding a user code in normal form; normalises values on the way in."""

    description = "Device flow user code (upper-case letters and digits)"
    default_validators = [validate_user_code]

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return normalize_user_code(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        # Called for saves, update() and exact/in lookups alike, so a code typed as
        # "bcdf-ghjk" is written and matched as "BCDFGHJK".
        value = super().get_prep_value(value)
        return normalize_user_code(value) if isinstance(value, str) else value

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = normalize_user_code(value)
            setattr(model_instance, self.attname, value)
        return value
