"""The delete confirmation of rows that take thousands of others with them.

Django's confirmation loads every row a delete cascades to and lists each one: a client with a
million tokens, or a user with years of sessions, makes a page of hundreds of megabytes that
never renders. Here the cascade is counted first, per table, by ``COUNT`` queries over the
same ``ON DELETE CASCADE`` relations the delete follows; up to :data:`LISTED_MAX` rows Django's
own list is kept (each row linked), above it the page lists the rows being deleted and a count
per table. Permissions and protected rows are checked as Django checks them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import get_deleted_objects as django_deleted_objects
from django.db import models, router
from django.db.models import Q
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import capfirst

#: Up to this many cascaded rows, Django's row-by-row list; above, counts per table.
LISTED_MAX = 200
#: Relations followed from the deleted rows (client -> refresh token -> access token is 2).
DEPTH = 4
_BLOCKING = (models.PROTECT, models.RESTRICT)


def _cascade(
    model: type[models.Model], rows: models.QuerySet[Any], using: str
) -> tuple[dict[type[models.Model], list[Q]], list[models.QuerySet[Any]]]:
    """Per model, the conditions (one per path) of its rows a delete of ``rows`` cascades
    to, and the querysets of rows that block it (``PROTECT``/``RESTRICT``)."""
    reached: dict[type[models.Model], list[Q]] = defaultdict(list)
    blocking: list[models.QuerySet[Any]] = []
    frontier = [(model, rows)]
    for _ in range(DEPTH):
        following = []
        for parent, parent_rows in frontier:
            for relation in parent._meta.related_objects:
                if not relation.on_delete or relation.field.many_to_many:
                    continue
                field = relation.field
                child = relation.related_model
                if not isinstance(child, type):  # a lazy reference Django left as a string
                    continue
                target = parent_rows.values(field.target_field.attname)
                condition = Q(**{f"{field.attname}__in": target})
                if relation.on_delete in _BLOCKING:
                    blocking.append(child._base_manager.using(using).filter(condition))
                elif relation.on_delete is models.CASCADE:
                    reached[child].append(condition)
                    following.append((child, child._base_manager.using(using).filter(condition)))
        frontier = following
    return reached, blocking


def _count(model: type[models.Model], conditions: list[Q], using: str) -> int:
    """The rows matching any of ``conditions``, each counted once: per path, the rows no
    earlier path reached, each through its own index (an OR of the paths scans the table; a
    UNION sorts every reached row to drop duplicates)."""
    rows = model._base_manager.using(using)
    total, earlier = 0, None
    for condition in conditions:
        matched = rows.filter(condition)
        total += (matched if earlier is None else matched.exclude(earlier)).count()
        earlier = condition if earlier is None else earlier | condition
    return total


def _judges_each_row(model_admin: Any) -> bool:
    """Whether the admin's delete permission depends on the row (the user admin: a
    superuser's row is a superuser's to delete), so every row must be asked, as Django asks."""
    return type(model_admin).has_delete_permission is not admin.ModelAdmin.has_delete_permission


def deleted_objects(
    model_admin: Any, objs: Any, request: HttpRequest
) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
    """``ModelAdmin.get_deleted_objects``: Django's list for a small cascade, counts per table
    for a large one."""
    # The bulk action passes a queryset: "select all" may be millions of rows.
    head = list(objs[: LISTED_MAX + 1])
    if not head:
        return [], {}, set(), []
    model = type(head[0])
    using = router.db_for_write(model)
    if isinstance(objs, models.QuerySet):
        rows, total = objs, (len(head) if len(head) <= LISTED_MAX else objs.count())
    else:
        rows = model._base_manager.using(using).filter(pk__in=[obj.pk for obj in objs])
        total = len(objs)
    reached, blocking = _cascade(model, rows, using)
    counts = {child: _count(child, conditions, using) for child, conditions in reached.items()}
    site = model_admin.admin_site
    cascaded_admins = [
        site.get_model_admin(child)
        for child, count in counts.items()
        if count and site.is_registered(child)
    ]
    if total + sum(counts.values()) <= LISTED_MAX or any(map(_judges_each_row, cascaded_admins)):
        # Django's list asks each cascaded row; counts cannot (no such admin here yet).
        return django_deleted_objects(objs, request, site)
    perms_needed = {
        str(child_admin.model._meta.verbose_name)
        for child_admin in cascaded_admins
        if not child_admin.has_delete_permission(request)
    }
    deletable = (
        all(model_admin.has_delete_permission(request, obj) for obj in objs)
        if _judges_each_row(model_admin)
        else model_admin.has_delete_permission(request)
    )
    if not deletable:
        perms_needed.add(str(model._meta.verbose_name))
    protected = [
        format_html("{}: {}", capfirst(str(qs.model._meta.verbose_name)), row)
        for qs in blocking
        for row in qs[:LISTED_MAX]
    ]
    summary = [
        format_html("{} {}", f"{count:,}", child._meta.verbose_name_plural)
        for child, count in sorted(counts.items(), key=lambda item: -item[1])
        if count
    ]
    listed: list[Any] = [
        format_html("{}: {}", capfirst(str(model._meta.verbose_name)), obj)
        for obj in head[:LISTED_MAX]
    ]
    if total > LISTED_MAX:
        listed.append(f"... {total - LISTED_MAX:,} more {model._meta.verbose_name_plural}")
    # unordered_list nests a list under the item before it.
    listed += ["With them, the rows that point to them:" if total > 1 else "With it:", summary]
    model_count = {str(model._meta.verbose_name_plural): total}
    model_count.update(
        {str(child._meta.verbose_name_plural): count for child, count in counts.items() if count}
    )
    return listed, model_count, perms_needed, protected


class DeleteSummaryMixin:
    """For a ModelAdmin: :func:`deleted_objects` on the delete page and the bulk action."""

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        return deleted_objects(self, objs, request)
