"""Shared admin behaviour for beep tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR
from django.core import checks
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from beep_shared.db.show_once import secret_fields

from .changelist import TableChangeList, secret_lookup_problem
from .checks import secret_field_problems, unbounded_list_filters
from .columns import QuickDateColumnsMixin
from .deletion import DeleteSummaryMixin
from .errors import BadChangelistQuery, bad_request_page, one_line
from .pagination import LargeTablePaginator, last_page_number
from .permissions import SuperuserFieldsMixin, superuser_field_problems
from .related import RelatedLinksMixin, related_link_problems
from .search import exact_search
from .widgets import BeepFormFieldsMixin

AUDIT_FIELDS = (
    "id",
    "row_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "deleted_at",
    "deleted_by",
    "version",
    "source",
)


# Django's own wording, as its form fields give it.
NUL_MESSAGE = ProhibitNullCharactersValidator.message


def query_problem(request: Any, per_page: int) -> str | None:
    """What is wrong with a changelist's query string that no lookup would notice before
    the database does: a NUL (PostgreSQL text cannot hold one; psycopg refuses the query),
    or a page number past what an OFFSET can reach."""
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return f"{one_line(name.replace(chr(0), '?'))}: {NUL_MESSAGE}"
    page = request.GET.get(PAGE_VAR)
    if page is not None:
        try:
            number = int(page)
        except ValueError:
            return None  # Django shows the first page
        if number > last_page_number(per_page):
            return f"{PAGE_VAR}: page numbers stop at {last_page_number(per_page)}."
    return None


class BadInputMixin:
    """Bad input to a ModelAdmin's pages answered as 4xx, for every admin of the project:
    query strings the changelist cannot use are a 400 page naming the parameter and the
    rule, object ids no row can have (a NUL in the URL, ``_00`` in the admin's quoting) are
    "not found"."""

    def get_changelist_instance(self, request: Any) -> Any:
        problem = query_problem(request, self.list_per_page)  # type: ignore[attr-defined]
        if problem:
            raise BadChangelistQuery(problem)
        try:
            return super().get_changelist_instance(request)  # type: ignore[misc]
        except IncorrectLookupParameters as exc:
            # Django would redirect to the unfiltered list ("?e=1"): the filter silently gone.
            raise BadChangelistQuery(exc) from exc

    def changelist_view(self, request: Any, extra_context: Any = None) -> Any:
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except BadChangelistQuery as exc:
            return bad_request_page(self, request, exc.message)

    def get_object(self, request: Any, object_id: Any, from_field: Any = None) -> Any:
        if "\x00" in str(object_id):
            return None
        return super().get_object(request, object_id, from_field)  # type: ignore[misc]


@dataclass(frozen=True)
class ObjectButton:
    """A POST button beside History on a change page (CSRF token and ``next`` included)."""

    label: str
    url: str
    name: str = "_confirm"


class TableAdmin(
    DeleteSummaryMixin,
    RelatedLinksMixin,
    BeepFormFieldsMixin,
    QuickDateColumnsMixin,
    SuperuserFieldsMixin,
    BadInputMixin,
    admin.ModelAdmin,
):
    """Admin of a beep table, built to stay fast on tables of millions of rows.

    - Newest rows first by ``row_id`` (unique, indexed): the first page is an index scan.
    - No ``COUNT(*)`` over the table: :class:`LargeTablePaginator` counts at most 1,000 rows
      and estimates above that; the total and the filter facet counts are never computed.
    - Relations are edited by id (``raw_id_fields``) unless the admin names them in
      ``autocomplete_fields``, ``radio_fields`` or ``dropdown_fields``: a ``<select>`` would
      load every row of the related table into the page.
    - Date-times in lists read ``2026-11-22 14:05`` (local time): Django's localized format
      costs about 0.1 ms a cell, a third of a 50-row page with three date columns.
    - ``exact_search_fields`` (instead of ``search_fields``): the search box matches those
      fields exactly, each through its own index (see ``beep_shared.admin.search``).
    - Audit columns are read-only, in their own collapsed fieldset.
    - One-line inputs for short text, one item per line for lists, empty JSON as empty
      (``beep_shared.admin.widgets``); links to the rows that point here (``related_links``,
      ``beep_shared.admin.related``).
    - A filter value the column cannot hold is a 400 page naming the parameter and the rule,
      not a server error nor a silently unfiltered list (``BadInputMixin``); so is a filter
      that compares part of a secret column (``secret_lookup_problem``).
    - Columns that decide who someone is or where they work (``superuser_fields``) are
      read-only to everyone but superusers (``beep_shared.admin.permissions``).
    - The delete confirmation counts a large cascade per table instead of listing every row;
      "delete selected" deletes a large selection set-based, with one admin log entry
      (``beep_shared.admin.deletion``).
    """

    readonly_fields = AUDIT_FIELDS
    ordering = ("-row_id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = LargeTablePaginator
    change_list_template = "admin/beep_shared/table_change_list.html"
    change_form_template = "admin/beep_shared/table_change_form.html"
    list_per_page = 50
    # Relations of small tables that may be rendered as a plain <select>.
    dropdown_fields: ClassVar[tuple[str, ...]] = ()
    # Searched by exact value through their indexes, e.g. ("id", "client", "user__email").
    exact_search_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: Any, admin_site: Any) -> None:
        super().__init__(model, admin_site)
        chosen = {
            *self.raw_id_fields,
            *self.autocomplete_fields,
            *self.radio_fields,
            *self.dropdown_fields,
        }
        # ClassVar in django-stubs; Django itself reads the instance attribute.
        self.raw_id_fields = (  # type: ignore[misc]
            *self.raw_id_fields,
            *(
                field.name
                for field in model._meta.get_fields()
                if field.concrete
                and (field.many_to_one or field.many_to_many)
                and field.name not in chosen
            ),
        )

    def get_exclude(self, request: Any, obj: Any = None) -> Any:
        # Secret columns never reach a form, whatever they are called: by their field class.
        excluded = super().get_exclude(request, obj)
        hidden = [f.name for f in secret_fields(self.model) if f.name not in (excluded or ())]
        return (*(excluded or ()), *hidden) if hidden else excluded

    def lookup_allowed(self, lookup: str, value: Any, request: Any = None) -> bool:
        # Django allows any lookup of the model's own columns from the query string.
        problem = secret_lookup_problem(self.model, lookup)
        if problem:
            raise BadChangelistQuery(problem)
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request: Any) -> Any:
        return self.exact_search_fields or super().get_search_fields(request)

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> Any:
        if not self.exact_search_fields:
            return super().get_search_results(request, queryset, search_term)
        return exact_search(queryset, self.exact_search_fields, search_term), False

    class Media:
        css = {"all": ("beep_shared/admin.css",)}

    def get_changelist(self, request: Any, **kwargs: Any) -> type[TableChangeList]:
        return TableChangeList

    def action_checkbox(self, obj: Any) -> SafeString:
        # Same markup as Django's, without rendering a form widget through the template
        # engine for every row (a fifth of a 50-row changelist's server time).
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            # On the add page the audit columns hold database-default expressions that only
            # get values on INSERT; there is nothing to show yet.
            return tuple(f for f in readonly if f not in AUDIT_FIELDS)
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if len(fieldsets) == 1 or obj is None:
            # The audit columns go last, in their own fieldset (none on the add page).
            fieldsets = [
                (name, {**options, "fields": kept})
                for name, options in fieldsets
                if (kept := [f for f in options["fields"] if f not in AUDIT_FIELDS])
            ]
        if obj is None:
            return fieldsets
        shown = {f for _, options in fieldsets for f in options["fields"]}
        missing: Any = [f for f in AUDIT_FIELDS if f not in shown]
        if missing:
            fieldsets.append(("Record", {"classes": ["collapse"], "fields": missing}))
        return self.with_related_rows(request, obj, fieldsets)

    def get_object_buttons(self, request: Any, obj: Any) -> list[ObjectButton]:
        """POST buttons for the change page of ``obj`` (rotate, revoke, switch...)."""
        return []

    def render_change_form(
        self, request: Any, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        obj = kwargs.get("obj")
        if obj is not None:
            context = {**context, "object_buttons": self.get_object_buttons(request, obj)}
        return super().render_change_form(request, context, *args, **kwargs)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [
            *super().check(**kwargs),
            *unbounded_list_filters(self),
            *related_link_problems(self),
            *superuser_field_problems(self),
            *secret_field_problems(self),
        ]
