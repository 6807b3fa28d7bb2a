"""The changelist of :class:`~beep_shared.admin.base.TableAdmin`."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse

# Stands for the quoted primary key in a reversed change URL; admin quoting turns every "_"
# of a real key into "_5F", so it can never occur in one.
_PK_MARK = "__pk__"


class TableChangeList(ChangeList):
    """Reverses the change URL once per page rather than once per row (the admin links each
    row to its change page; ``reverse`` is a noticeable share of a 50-row page)."""

    def url_for_result(self, result: Any) -> str:
        template = self.__dict__.get("_change_url_template")
        if template is None:
            template = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(_PK_MARK,),
                current_app=self.model_admin.admin_site.name,
            )
            self.__dict__["_change_url_template"] = template
        return template.replace(_PK_MARK, quote(getattr(result, self.pk_attname)), 1)
