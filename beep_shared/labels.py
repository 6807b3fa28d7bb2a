"""Human names of rows, for ``__str__`` and admin titles.

A row is named by what people recognise (an email address, an organization or client name),
read through its relations: the admin loads those with ``select_related``. A related row the
current tenant scope hides, or one not saved yet, falls back to its id.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist


def related_label(obj: Any, field: str, attribute: str | None = None) -> str:
    """``str()`` (or ``attribute``) of ``obj.<field>``; its id if there is no such row."""
    key = getattr(obj, f"{field}_id", None)
    if key is None:
        return "nobody" if field in {"user", "owner_user", "inviter"} else "none"
    try:
        related = getattr(obj, field)
    except ObjectDoesNotExist:
        return str(key)
    value = getattr(related, attribute) if attribute else related
    return str(value if value not in (None, "") else key)
