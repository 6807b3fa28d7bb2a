"""List filters that stay cheap on large tables.

Django's default filter for a foreign key (``RelatedFieldListFilter``) lists every row of the
related table, and ``AllValuesFieldListFilter`` runs ``SELECT DISTINCT`` over the filtered table
on each page. :class:`ExactValueFilter` instead shows a text box: the changelist is filtered on
the exact value typed (an id, a client_id, an email address), which an index answers.

    list_filter = [("client", ExactValueFilter), ("user", ExactValueFilter)]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import ValidationError


class ExactValueFilter(admin.FieldListFilter):
    """Text box filter: rows whose field equals the value typed (for a foreign key, the value
    of the column it holds, i.e. the related row's id or ``to_field``)."""

    template = "admin/beep_shared/exact_value_filter.html"
    # The sidebar's "By ..." title; the field's verbose name when empty.
    fixed_title = ""

    @classmethod
    def titled(cls, title: str) -> type[ExactValueFilter]:
        """This filter with its own title, e.g. ``ExactValueFilter.titled("refresh token")``."""
        return type(f"{cls.__name__}Titled", (cls,), {"fixed_title": title})

    def __init__(
        self,
        field: Any,
        request: Any,
        params: dict[str, Any],
        model: Any,
        model_admin: Any,
        field_path: str,
    ) -> None:
        self.lookup_kwarg = self.parameter_for(field, field_path)
        value = params.get(self.lookup_kwarg)
        self.lookup_val = (value[-1] if isinstance(value, list) else value) or ""
        super().__init__(field, request, params, model, model_admin, field_path)
        if not self.lookup_val:
            # An empty box means "no filter", not "equals the empty string".
            self.used_parameters.pop(self.lookup_kwarg, None)
        else:
            self.lookup_val = checked_value(self.column_field, self.lookup_kwarg, self.lookup_val)
        if self.fixed_title:
            self.title = self.fixed_title

    @staticmethod
    def parameter_for(field: Any, field_path: str) -> str:
        """The query-string parameter that filters ``field_path`` (a ``field``) exactly."""
        if field.is_relation and field.target_field.primary_key:
            return f"{field_path}__{field.target_field.name}__exact"
        # A foreign key to another column (``to_field``) compares that column's value as is;
        # naming the column would be a lookup through the relation, which the admin refuses.
        return f"{field_path}__exact"

    @property
    def column_field(self) -> Any:
        """The field whose column holds the value: for a foreign key, the one it points at."""
        field: Any = self.field
        return field.target_field if field.is_relation else field

    def related_label(self) -> str | None:
        """The name of the row a foreign key value points at (one indexed lookup)."""
        field: Any = self.field
        if not (self.lookup_val and field.is_relation):
            return None
        target = field.target_field
        row = (
            field.related_model._default_manager.filter(**{target.name: self.lookup_val})
            .order_by()
            .first()
        )
        return None if row is None else str(row)

    def expected_parameters(self) -> list[str | None]:
        return [self.lookup_kwarg]

    def choices(self, changelist: Any) -> Iterator[Any]:
        params = getattr(changelist, "filter_params", changelist.params)
        hidden = [
            (name, value)
            for name, values in sorted(params.items())
            if name not in (self.lookup_kwarg, PAGE_VAR)
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "selected": bool(self.lookup_val),
            "parameter": self.lookup_kwarg,
            "value": self.lookup_val,
            "hidden": hidden,
            "clear_url": changelist.get_query_string(remove=[self.lookup_kwarg]),
            "display": self.lookup_val,
            "label": self.related_label(),
        }


def checked_value(field: Any, parameter: str, value: str) -> str:
    """``value`` if ``field`` could hold it, else IncorrectLookupParameters naming the rule.

    Some columns accept any string up to the database (an ``inet`` column fails only when
    the query runs, as a server error), so the value is checked the way a form would.
    """
    try:
        field.run_validators(field.to_python(value))
    except ValidationError as exc:
        raise IncorrectLookupParameters(f"{parameter}: {'; '.join(exc.messages)}") from None
    return value
