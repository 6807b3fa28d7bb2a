"""Shared admin behaviour for beep tables."""

from __future__ import annotations

from django.contrib import admin

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


class TableAdmin(admin.ModelAdmin):
    """Read-only audit columns in their own collapsed fieldset; newest rows first."""

    readonly_fields = AUDIT_FIELDS
    ordering = ("-row_id",)
    show_full_result_count = False
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            # On the add page the audit columns hold database-default expressions that only
            # get values on INSERT; there is nothing to show yet.
            return tuple(f for f in readonly if f not in AUDIT_FIELDS)
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if len(fieldsets) != 1:
            return fieldsets
        fields = [f for f in fieldsets[0][1]["fields"] if f not in AUDIT_FIELDS]
        if obj is None:
            return [(None, {"fields": fields})]
        return [
            (None, {"fields": fields}),
            ("Record", {"classes": ["collapse"], "fields": AUDIT_FIELDS}),
        ]
