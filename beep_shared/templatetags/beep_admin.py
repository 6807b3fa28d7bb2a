"""Changelist pieces that know about approximate counts (see ``beep_shared.admin.pagination``),
and the admin scope marker of the page header.

Both tags reuse Django's own context builders and templates where the count is not involved,
so the admin's markup, styles and per-app template overrides stay as Django ships them.
"""

from __future__ import annotations

import inspect
from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import pagination, search_form
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.utils.formats import number_format

register = template.Library()


def count_qualifier(cl: Any) -> str:
    """ "" for an exact result count, else "about" or "more than"."""
    return getattr(cl.paginator, "count_qualifier", "")


def table_pagination(cl: Any) -> dict[str, Any]:
    qualifier = count_qualifier(cl)
    # An estimate is a large number: group its digits so it reads at a glance.
    shown = number_format(cl.result_count, force_grouping=True) if qualifier else cl.result_count
    return {**pagination(cl), "count_qualifier": qualifier, "result_count_shown": shown}


def table_search_form(cl: Any) -> dict[str, Any]:
    context = search_form(cl)
    filtered = bool(cl.query) or bool(getattr(cl, "has_active_filters", True))
    # Django prints "N results (Show all)" whenever the total is not counted, even on an
    # unfiltered list; say it only for a search or a filter, and not for an estimate (the
    # line below the list qualifies that one).
    context["show_result_count"] = filtered and not count_qualifier(cl)
    return context


# Newer Django versions give the node a leading ``name`` argument.
_NODE_TAKES_NAME = "name" in inspect.signature(InclusionAdminNode.__init__).parameters


def inclusion_admin_node(
    name: str, parser: Any, token: Any, func: Any, template_name: str
) -> InclusionAdminNode:
    """An admin inclusion node (its template can be overridden per app and per model)."""
    options = {"func": func, "template_name": template_name, "takes_context": False}
    if _NODE_TAKES_NAME:
        return InclusionAdminNode(name, parser, token, **options)
    return InclusionAdminNode(parser, token, **options)


@register.tag(name="table_pagination")
def table_pagination_tag(parser: Any, token: Any) -> InclusionAdminNode:
    return inclusion_admin_node(
        "table_pagination", parser, token, table_pagination, "table_pagination.html"
    )


@register.tag(name="table_search_form")
def table_search_form_tag(parser: Any, token: Any) -> InclusionAdminNode:
    return inclusion_admin_node(
        "table_search_form", parser, token, table_search_form, "search_form.html"
    )


@register.simple_tag(takes_context=True)
def beep_scope_marker(context: Any) -> str:
    """The organization admin pages show right now, with a "Leave" button (header)."""
    from beep_shared.admin.switching import scope_marker

    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False):
        return ""
    return scope_marker(request)
