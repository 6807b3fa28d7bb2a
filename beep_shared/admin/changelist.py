"""The changelist of :class:`~beep_shared.admin.base.TableAdmin`."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP
from django.urls import reverse

from beep_shared.db.show_once import holds_secret

from .columns import PK_MARK
from .filters import checked_value

# Parts of a date a lookup may compare (``created_at__year=2026``, ``expires_at__month__gte=6``).
# The ORM builds Python datetimes from a year, which stop at 9999 (a larger one was a server
# error while the query was compiled), and PostgreSQL's EXTRACT gives these ranges anyway.
DATE_PART_RANGES = {
    "year": (1, 9999),
    "iso_year": (1, 9999),
    "quarter": (1, 4),
    "month": (1, 12),
    "week": (1, 53),
    "day": (1, 31),
    "week_day": (1, 7),
    "iso_week_day": (1, 7),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}


def checked_date_part(lookup: str, value: str) -> None:
    """IncorrectLookupParameters unless each value of a date-part lookup is in its range."""
    parts = [part for part in lookup.split(LOOKUP_SEP) if part in DATE_PART_RANGES]
    if not parts:
        return
    low, high = DATE_PART_RANGES[parts[0]]
    items = value.split(",") if lookup.endswith(f"{LOOKUP_SEP}in") else [value]
    for item in items:
        try:
            number = int(item)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise IncorrectLookupParameters(
                f"{lookup}: must be a whole number from {low} to {high}."
            )


#: What a query string may ask of a column that holds a secret: a match of the whole value
#: (which reveals nothing the asker did not type, as an exact search) or whether it is set.
SECRET_LOOKUPS: tuple[list[str], ...] = ([], ["exact"], ["isnull"])


def _secret_along(model: Any, lookup: str) -> tuple[Any, list[str]] | None:
    """The column holding a secret that ``lookup`` reaches, and the lookup's parts after it."""
    parts = lookup.split(LOOKUP_SEP)
    for position, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None  # a lookup or transform of a column that holds no secret
        if holds_secret(field):
            return field, parts[position + 1 :]
        if not field.is_relation or field.related_model is None:
            return None
        model = field.related_model
    return None


def reaches_secret(model: Any, lookup: str) -> bool:
    """Whether ``lookup`` (a filter's or a search field's path) ends at a secret column."""
    return _secret_along(model, lookup.lstrip("=^@")) is not None


def secret_lookup_problem(model: Any, lookup: str) -> str | None:
    """Why a query-string lookup may not filter the changelist, when it compares part of a
    secret (``?password__startswith=``, ``?user__accounts__access_token__gt=``): a list that
    shows a row or not would tell the secret a character at a time."""
    found = _secret_along(model, lookup)
    if found is None or found[1] in SECRET_LOOKUPS:
        return None
    return (
        f"{lookup}: {found[0].name} holds a secret; a filter may only match it exactly "
        "(or ask whether it is empty)."
    )


def column_for_lookup(model: Any, lookup: str) -> Any:
    """The concrete field an exact lookup such as ``ip_address`` or ``user__id__exact``
    compares with its value, or None for any other lookup."""
    parts = lookup.split(LOOKUP_SEP)
    if parts[-1] == "exact":
        parts = parts[:-1]
    field = None
    for part in parts:
        if field is not None:
            if not field.is_relation:
                return None
            model = field.related_model
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
    if field is None or not field.concrete:
        return None
    return field.target_field if field.is_relation else field


class TableChangeList(ChangeList):
    """Reverses the change URL once per page rather than once per row (the admin links each
    row to its change page; ``reverse`` is a noticeable share of a 50-row page), and checks
    the values of query-string lookups no filter handles (``?ip_address=...``) the way a
    form would, so a value the column cannot hold is an error message, not a database error.
    """

    def get_filters(self, request: Any) -> Any:
        result = super().get_filters(request)
        remaining = result[2]
        for lookup, values in remaining.items():
            for value in values if isinstance(values, list) else [values]:
                checked_date_part(lookup, str(value))
            field = column_for_lookup(self.lookup_opts.model, lookup)
            if field is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                checked_value(field, lookup, str(value))
        return result

    def url_for_result(self, result: Any) -> str:
        template = self.__dict__.get("_change_url_template")
        if template is None:
            template = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(PK_MARK,),
                current_app=self.model_admin.admin_site.name,
            )
            self.__dict__["_change_url_template"] = template
        return template.replace(PK_MARK, quote(getattr(result, self.pk_attname)), 1)
