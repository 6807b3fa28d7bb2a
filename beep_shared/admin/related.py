"""Links from a row to the rows that point at it: filtered changelists, never inlines.

An admin lists them in ``related_links``::

    related_links = (RelatedLink("Teams", "beep_shared.Team", "organization"), ...)

and its change page gets a "Related rows" line of links such as
``/admin/beep_shared/team/?organization__id__exact=<id>``. An app whose models point at
another app's rows adds its links to that app's admins with :func:`register_related_links`
(the lower app names none of the upper app's models). The target list is filtered on the
foreign key column through :class:`~beep_shared.admin.filters.ExactValueFilter` (which the
target admin must list for that field; ``beep_shared.E002`` checks it), an indexed column,
so a link costs no query on this page and one index scan on the next. Nothing is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.apps import apps
from django.contrib import admin
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from beep_shared.admin.filters import ExactValueFilter


@dataclass(frozen=True)
class RelatedLink:
    label: str
    model: str  # "app_label.ModelName" of the rows that point here
    field: str  # their foreign key to this model

    def foreign_key(self) -> Any:
        return apps.get_model(self.model)._meta.get_field(self.field)

    def parameter(self) -> str:
        """The target list's ExactValueFilter parameter for this foreign key."""
        return ExactValueFilter.parameter_for(self.foreign_key(), self.field)

    def value(self, obj: Any) -> Any:
        return getattr(obj, self.foreign_key().target_field.attname)


def register_related_links(
    model_admin: type[Any], *links: RelatedLink, before: str | None = None
) -> None:
    """Add ``links`` to the ``related_links`` of the ModelAdmin class ``model_admin`` (and so
    of its subclasses that do not set their own), before the link labelled ``before`` or at
    the end. Called by the dependent app, e.g. from its admin module; a link already there is
    not added twice."""
    current = tuple(model_admin.related_links)
    new = tuple(link for link in dict.fromkeys(links) if link not in current)
    if before is None:
        at = len(current)
    else:
        labels = [link.label for link in current]
        if before not in labels:
            raise ImproperlyConfigured(
                f"{model_admin.__name__} has no related link {before!r} to add links before; "
                f"it has {', '.join(map(repr, labels)) or 'none'}."
            )
        at = labels.index(before)
    model_admin.related_links = (*current[:at], *new, *current[at:])


def related_links_html(model_admin: Any, request: Any, obj: Any) -> SafeString:
    site = model_admin.admin_site
    items = []
    for link in model_admin.related_links:
        target = apps.get_model(link.model)
        target_admin = site._registry.get(target)
        if target_admin is None or not target_admin.has_view_permission(request):
            continue
        opts = target._meta
        try:
            url = reverse(
                f"{site.name}:{opts.app_label}_{opts.model_name}_changelist",
                current_app=site.name,
            )
        except NoReverseMatch:
            continue
        query = urlencode({link.parameter(): link.value(obj)})
        items.append((f"{url}?{query}", link.label))
    if not items:
        return format_html("<p>{}</p>", "None you may view.")
    return format_html(
        '<ul class="beep-related">{}</ul>',
        format_html_join("", '<li><a href="{}">{}</a></li>', items),
    )


class RelatedLinksMixin:
    """Adds the "Related rows" links of ``related_links`` to a ModelAdmin's change page.

    The links depend on the viewer's permissions, so the read-only field is a function made
    for each request (a ModelAdmin serves all threads at once: it must not hold a request).
    """

    related_links: ClassVar[tuple[RelatedLink, ...]] = ()

    def related_rows_field(self, request: Any) -> Any:
        field = getattr(request, "_beep_related_rows", None)
        if field is None:

            @admin.display(description="links")
            def related_rows(obj: Any) -> SafeString:
                return related_links_html(self, request, obj)

            field = related_rows
            request._beep_related_rows = field
        return field

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if obj is not None and self.related_links:
            return (*fields, self.related_rows_field(request))
        return fields

    def with_related_rows(self, request: Any, obj: Any, fieldsets: Any) -> Any:
        """``fieldsets`` with the links in a fieldset of their own (call from get_fieldsets)."""
        fieldsets = list(fieldsets)
        if obj is None or not self.related_links:
            return fieldsets
        field = self.related_rows_field(request)
        fieldsets = [
            (name, {**options, "fields": [f for f in options["fields"] if f is not field]})
            for name, options in fieldsets
        ]
        # Second, after the fields that say what the row is.
        fieldsets.insert(1, ("Related rows", {"fields": [field]}))
        return fieldsets


def related_link_problems(model_admin: Any) -> list[checks.CheckMessage]:
    """E002: every related link must lead to a list that filters on its foreign key."""
    problems: list[checks.CheckMessage] = []
    for link in getattr(model_admin, "related_links", ()):
        target = apps.get_model(link.model)
        target_admin = model_admin.admin_site._registry.get(target)
        filters = getattr(target_admin, "list_filter", ())
        pairs = [tuple(item) for item in filters if isinstance(item, (tuple, list))]
        if not any(
            name == link.field and isinstance(kind, type) and issubclass(kind, ExactValueFilter)
            for name, kind in pairs
        ):
            problems.append(
                checks.Error(
                    f"related link {link.label!r} of {type(model_admin).__name__} leads to "
                    f"{link.model}, whose admin has no ({link.field!r}, ExactValueFilter) "
                    "list filter.",
                    obj=type(model_admin),
                    id="beep_shared.E002",
                )
            )
    return problems
