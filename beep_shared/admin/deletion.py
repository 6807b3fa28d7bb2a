"""Deletes in the admin of rows that take thousands of others with them, or of thousands of
rows at once.

**The confirmation.** Django's loads every row a delete cascades to and lists each one: a
client with a million tokens, or a user with years of sessions, makes a page of hundreds of
megabytes that never renders. Here the cascade is counted first, per table, by ``COUNT``
queries over the same relations the delete follows; up to :data:`LISTED_MAX` rows Django's
own list is kept (each row linked), above it the page lists the rows being deleted and a count
per table. Permissions and protected rows are checked as Django checks them.

**"Delete selected".** Django's action reads every selected row three times over ("select all"
on a table of millions: minutes and gigabytes): for the ids on its confirmation form, for a
log entry per row, and in the collector that deletes them. :func:`delete_selected` replaces it
(:class:`DeleteSummaryMixin`) with the same pages, checks and messages:

- Up to :data:`LISTED_MAX` selected rows it is Django's: a log entry per row, the collector,
  the delete signals, the admin's ``log_deletions`` and ``delete_queryset``.
- Above, :func:`delete_rows` deletes set-based: the database follows the ``ON DELETE`` of the
  package's keys (:class:`beep_shared.db.fields.ForeignKey`), one statement each does the rest
  (Django's own keys: the admin log's, many-to-many link tables), ``PROTECT`` and ``RESTRICT``
  rows anywhere down the cascade refuse the delete. The statements depend on the schema, not
  on the rows, and no row is read into Python. A table with delete signals (they take
  instances), a generic relation, a parent table or a cycle of keys goes through Django's
  collector :data:`BATCH` rows at a time instead: bounded memory, not bounded statements. An
  admin with its own ``delete_queryset`` or ``log_deletions`` gets them called, as Django does.
- The admin log gets **one entry** for a large delete, not one per row: it names the count,
  the table and the selection (the list's query string, filter and search, for "select all";
  the ids, at most :data:`LISTED_MAX`, otherwise) and the cascaded rows counted on the
  confirmation. A row per deleted row would write as many log rows as it deletes, and the
  log, read through "Recent actions" and each object's history, is no place to look up a
  million ids; the entry says who deleted what and how the rows were chosen.
- The confirmation form carries the selection as it was posted: the ids, or "select all"
  (``select_across``) with the list's filter and search in the URL it posts back to, instead
  of one hidden input per row. So a "select all" is evaluated again when confirmed, as it
  was when chosen: rows that came to match the filter meanwhile go too (Django's would have
  frozen the ids, in a page millions of inputs long).
- Every statement runs on the request's connection and in its tenant scope: row level
  security limits the selection to the rows the request may see (the database's own
  ``ON DELETE`` actions then reach the rows pointing at those, as for any delete).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.admin.utils import get_deleted_objects as django_deleted_objects
from django.contrib.admin.utils import model_ngettext
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import models, router, transaction
from django.db.models import Q, signals
from django.db.models.deletion import get_candidate_relations_to_delete
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from beep_shared.db.fields import ForeignKey

from .changelist import reaches_secret

#: Up to this many cascaded rows, Django's row-by-row list; above, counts per table.
LISTED_MAX = 200
#: Relations followed from the deleted rows (client -> refresh token -> access token is 2).
DEPTH = 4
#: Rows per statement where a large delete must go row by row (see :func:`delete_rows`).
BATCH = 2_000
_BLOCKING = (models.PROTECT, models.RESTRICT)


def _dependents(
    parent: type[models.Model], parent_rows: models.QuerySet[Any]
) -> Iterator[tuple[Any, type[models.Model], Q]]:
    """Per foreign key to ``parent`` that a delete acts on (the list Django's collector
    follows: hidden keys and many-to-many link tables included), the key, its model, and the
    condition of that model's rows pointing at ``parent_rows``."""
    relation: Any
    for relation in get_candidate_relations_to_delete(parent._meta):
        field = relation.field
        child = relation.related_model
        if not isinstance(child, type):  # a lazy reference Django left as a string
            continue
        target = parent_rows.values(field.target_field.attname)
        yield field, child, Q(**{f"{field.attname}__in": target})


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
            for field, child, condition in _dependents(parent, parent_rows):
                on_delete = field.remote_field.on_delete
                if on_delete in _BLOCKING:
                    blocking.append(child._base_manager.using(using).filter(condition))
                elif on_delete is models.CASCADE:
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


def _overrides(model_admin: Any, name: str) -> bool:
    """Whether the admin has its own ``name`` instead of Django's ``ModelAdmin`` one."""
    return getattr(type(model_admin), name) is not getattr(admin.ModelAdmin, name)


def _judges_each_row(model_admin: Any) -> bool:
    """Whether the admin's delete permission depends on the row (the user admin: a
    superuser's row is a superuser's to delete), so every row must be asked, as Django asks."""
    return _overrides(model_admin, "has_delete_permission")


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
    # Row by row when the admin judges each row, but never all of them in memory at once.
    each = objs.iterator(chunk_size=BATCH) if isinstance(objs, models.QuerySet) else objs
    deletable = (
        all(model_admin.has_delete_permission(request, obj) for obj in each)
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


class _NeedsCollector(Exception):
    """The delete needs Django's collector, row by row (see :func:`delete_rows`)."""


def _has_delete_signals(model: type[models.Model]) -> bool:
    return signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model)


def _plan(
    model: type[models.Model], rows: models.QuerySet[Any], using: str
) -> tuple[list[tuple[models.QuerySet[Any], Any]], list[models.QuerySet[Any]]]:
    """What a set-based delete of ``rows`` must do itself, in order (children before their
    parents, ``rows`` last): per statement the rows and, for a ``SET_NULL``, the key to
    clear (``None``: delete them); and the querysets of rows that block the delete.

    A key the database acts on itself (:class:`beep_shared.db.fields.ForeignKey`, whose
    ``ON DELETE`` mirrors its ``on_delete``) needs no statement, but the rows it reaches are
    still followed: their own keys may not be the database's. Raises :class:`_NeedsCollector`
    where only Django's collector does what Django would: delete signals (they take model
    instances), a parent table (multi-table inheritance), a generic relation, an ``on_delete``
    SQL has no word for, or a table reached again through its own rows (a cycle)."""
    statements: list[tuple[models.QuerySet[Any], Any]] = []
    blocking: list[models.QuerySet[Any]] = []

    def visit(parent: type[models.Model], parent_rows: models.QuerySet[Any], path: Any) -> None:
        opts = parent._meta
        if (
            _has_delete_signals(parent)
            or opts.parents
            or any(hasattr(field, "bulk_related_objects") for field in opts.private_fields)
        ):
            raise _NeedsCollector
        for field, child, condition in _dependents(parent, parent_rows):
            on_delete = field.remote_field.on_delete
            child_rows = child._base_manager.using(using).filter(condition)
            by_database = isinstance(field, ForeignKey)
            if on_delete is models.DO_NOTHING:
                continue
            if on_delete in _BLOCKING:
                blocking.append(child_rows)
            elif on_delete is models.SET_NULL:
                if not by_database:
                    statements.append((child_rows, field))
            elif on_delete is models.CASCADE and child not in path:
                visit(child, child_rows, (*path, child))
                if not by_database:
                    statements.append((child_rows, None))
            else:
                raise _NeedsCollector

    visit(model, rows, (model,))
    statements.append((rows, None))
    return statements, blocking


def delete_rows(queryset: models.QuerySet[Any]) -> int:
    """Delete the rows of ``queryset`` and what Django's ``on_delete`` takes with them, in a
    number of statements that does not grow with the rows; return how many rows of
    ``queryset``'s table went.

    The database follows its own ``ON DELETE CASCADE``/``SET NULL`` keys; the other keys
    (Django's own, e.g. the admin log's and the many-to-many link tables') get one
    ``DELETE``/``UPDATE`` each, over a subquery of the selection. ``PROTECT``/``RESTRICT``
    rows anywhere down the cascade raise :class:`~django.db.models.ProtectedError`, as
    Django's collector does. Every statement runs on the connection and in the tenant scope
    of the request: row level security sees to it that only the tenant's rows are selected.

    Where the collector is needed (:func:`_plan`), it deletes :data:`BATCH` rows at a time:
    signals are sent and memory stays bounded, but the statements grow with the rows.
    """
    model = queryset.model
    using = router.db_for_write(model)
    # Through a subquery, whatever the admin's queryset joins, orders or annotates.
    rows = model._base_manager.using(using).filter(pk__in=queryset.order_by().values("pk"))
    with transaction.atomic(using=using):
        if not _reads_its_table_only(queryset):
            # Every statement selects the rows again, and those before the last change other
            # tables: a filter through them (a group's links, the admin log) would select
            # fewer rows by the time the rows themselves go (review 15: a "select all users
            # in group X" removed the links and kept the users). Batches by key instead.
            return _delete_in_batches(rows, using)
        try:
            statements, blocking = _plan(model, rows, using)
        except _NeedsCollector:
            return _delete_in_batches(rows, using)
        for blocked in blocking:
            found = list(blocked[:LISTED_MAX])
            if found:
                raise models.ProtectedError(
                    f"Cannot delete some {model._meta.verbose_name_plural}: "
                    f"{blocked.model._meta.verbose_name_plural} refer to them (protected).",
                    set(found),
                )
        deleted = 0
        for target, cleared in statements:
            if cleared is not None:
                target.update(**{cleared.name: None})
            else:
                # Django's collector's own set-based delete (no instances, no signals).
                deleted = target._raw_delete(using)
        return deleted


def _reads_its_table_only(queryset: models.QuerySet[Any]) -> bool:
    """Whether the selection reads no table but its own: no join, no subquery."""
    query = queryset.order_by().values("pk").query
    joined = [alias for alias in query.alias_map if query.alias_refcount.get(alias)]
    sql, _ = query.sql_with_params()
    return len(joined) <= 1 and sql.upper().count("SELECT") == 1


def _delete_in_batches(rows: models.QuerySet[Any], using: str) -> int:
    deleted, last = 0, None
    label = rows.model._meta.label
    while True:
        # By key, not by what is left: rows the collector could not delete end the loop.
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not batch:
            return deleted
        _, per_model = rows.model._base_manager.using(using).filter(pk__in=batch).delete()
        deleted += per_model.get(label, 0)
        last = batch[-1]


def _selection(model_admin: Any, request: HttpRequest) -> str:
    """How the rows of a bulk delete were chosen, for its log entry: the list's query string,
    but the value of a filter on a secret column (a whole token, a reset identifier) or of a
    search through one, which the log must not keep."""
    if request.POST.get("select_across") not in (None, "", "0", "False", "false"):
        query = request.GET.copy()
        query.pop(PAGE_VAR, None)
        model = model_admin.model
        searched = model_admin.get_search_fields(request) or ()
        for name in list(query):
            if reaches_secret(model, name) or (
                name == SEARCH_VAR and any(reaches_secret(model, f) for f in searched)
            ):
                query.setlist(name, ["(hidden)"])
        return "every row of the list" + (f" at ?{query.urlencode()}" if query else "")
    ids = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    more = f" and {len(ids) - LISTED_MAX:,} more" if len(ids) > LISTED_MAX else ""
    return f"the rows with ids {', '.join(ids[:LISTED_MAX])}{more}"


def _delete_large(
    model_admin: Any, request: HttpRequest, queryset: models.QuerySet[Any], model_count: Any
) -> int:
    """:func:`delete_rows`, with one admin log entry: the count, how the rows were chosen,
    and the rows counted on the confirmation as going with them."""
    opts = model_admin.model._meta
    plural = str(opts.verbose_name_plural)
    cascaded = [f"{n:,} {name}" for name, n in dict(model_count).items() if name != plural and n]
    with_them = (
        f"; with them, as counted on confirmation: {', '.join(cascaded)}" if cascaded else ""
    )
    user_id: Any = request.user.pk
    with transaction.atomic(using=router.db_for_write(model_admin.model)):
        # Written before the delete, as Django writes its own: someone deleting their own
        # user row takes their log entries with them, this one included, rather than
        # leaving one that names a user who is gone.
        entry = LogEntry.objects.create(
            user_id=user_id,
            content_type_id=get_content_type_for_model(model_admin.model).pk,
            object_id=None,
            object_repr=plural,
            action_flag=DELETION,
        )
        count = delete_rows(queryset)
        entries = LogEntry.objects.filter(pk=entry.pk)
        if not count:
            entries.delete()
            return 0
        name = model_ngettext(opts, count)
        chosen = _selection(model_admin, request)
        entries.update(
            object_repr=f"{count:,} {name}"[:200],
            change_message=f"Deleted {count:,} {name}: {chosen}{with_them}.",
        )
    return count


@admin.action(
    permissions=["delete"],
    description=gettext_lazy("Delete selected %(verbose_name_plural)s"),
)
def delete_selected(model_admin: Any, request: HttpRequest, queryset: models.QuerySet[Any]) -> Any:
    """Django's "delete selected" action, its pages, checks and messages, that stays bounded
    on a large selection (see the module's documentation)."""
    opts = model_admin.model._meta
    deletable_objects, model_count, perms_needed, protected = model_admin.get_deleted_objects(
        queryset, request
    )
    head = list(queryset[: LISTED_MAX + 1])
    large = len(head) > LISTED_MAX
    by_admin = _overrides(model_admin, "delete_queryset") or _overrides(
        model_admin, "log_deletions"
    )

    if request.POST.get("post") and not protected:
        if perms_needed:
            raise PermissionDenied
        try:
            if large and not by_admin:
                count = _delete_large(model_admin, request, queryset, model_count)
            else:
                # Django's way: a log entry per row, the collector, signals. Above LISTED_MAX
                # only for an admin with its own delete or log: its rules come before speed.
                count = queryset.count() if large else len(head)
                if count:
                    model_admin.log_deletions(request, queryset)
                    model_admin.delete_queryset(request, queryset)
        except models.ProtectedError as error:
            # Protected rows further down the cascade than the confirmation looked (DEPTH).
            protected = [
                format_html("{}: {}", capfirst(str(obj._meta.verbose_name)), obj)
                for obj in error.protected_objects
            ]
        else:
            if count:
                model_admin.message_user(
                    request,
                    gettext("Successfully deleted %(count)d %(items)s.")
                    % {"count": count, "items": model_ngettext(opts, count)},
                    messages.SUCCESS,
                )
            return None

    count = queryset.count() if large else len(head)
    objects_name = model_ngettext(opts, count)
    if perms_needed or protected:
        title = gettext("Cannot delete %(name)s") % {"name": objects_name}
    else:
        title = gettext("Delete multiple objects")
    if large:
        # The selection as it was posted: with "select all", the list's filter and search
        # (in the URL the form posts back to), not millions of ids in the page.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        select_across = request.POST.get("select_across", "")
    else:
        selected, select_across = [obj.pk for obj in head], ""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "objects_name": str(objects_name),
        "deletable_objects": [deletable_objects],
        "model_count": dict(model_count).items(),
        "queryset": queryset,
        "selected_pks": selected,
        "select_across": select_across,
        "perms_lacking": perms_needed,
        "protected": protected,
        "opts": opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(
        request,
        model_admin.delete_selected_confirmation_template
        or [
            f"admin/{opts.app_label}/{opts.model_name}/delete_selected_confirmation.html",
            f"admin/{opts.app_label}/delete_selected_confirmation.html",
            "admin/beep_shared/delete_selected_confirmation.html",
        ],
        context,
    )


class DeleteSummaryMixin:
    """For a ModelAdmin: :func:`deleted_objects` on the delete page and the bulk action,
    and :func:`delete_selected` in place of Django's action."""

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        return deleted_objects(self, objs, request)

    def get_actions(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # *args: Django 6.1 adds ``action_location``.
        actions = super().get_actions(request, *args, **kwargs)  # type: ignore[misc]
        if actions.get("delete_selected", (None,))[0] is django_delete_selected:
            _, name, description = actions["delete_selected"]
            actions[name] = (delete_selected, name, description)
        return actions
