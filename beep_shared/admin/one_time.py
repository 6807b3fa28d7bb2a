"""Pages that show a freshly made secret exactly once.

The secret is rendered into the response of the POST that made it, and nowhere else: not a
message (Django's cookie-based message storage would carry it in a signed, readable cookie),
not the session, not a log. The response says ``Cache-Control: no-store``, and a small
script replaces the page's history entry with the object's change page, so reloading or
going back shows that page instead of posting the form again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import quote
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables

# Where a model admin's save_model leaves a raw secret for response_add (the object lives
# only for this request).
PENDING_SECRETS = "_beep_one_time_secrets"


def hold_secrets(obj: Any, *secrets: tuple[str, str | None]) -> None:
    """Keep ``(label, raw value)`` pairs on ``obj`` until the response shows them."""
    obj.__dict__[PENDING_SECRETS] = [pair for pair in secrets if pair[1]]


def take_secrets(obj: Any) -> list[tuple[str, str]] | None:
    return obj.__dict__.pop(PENDING_SECRETS, None)


@sensitive_variables("secrets")
def one_time_secret_response(
    model_admin: Any,
    request: Any,
    obj: Any,
    secrets: list[tuple[str, str]],
    *,
    title: str,
    facts: list[tuple[str, str]] | None = None,
    note: str = "Copy it now: only a digest is stored, so it cannot be shown again.",
) -> TemplateResponse:
    opts = model_admin.model._meta
    site = model_admin.admin_site.name
    change_url = reverse(
        f"{site}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)], current_app=site
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "original": obj,
        "title": title,
        "facts": facts or [],
        "secrets": secrets,
        "note": note if secrets else "",
        "change_url": change_url,
        "changelist_url": reverse(f"{site}:{opts.app_label}_{opts.model_name}_changelist"),
        "add_url": reverse(f"{site}:{opts.app_label}_{opts.model_name}_add")
        if model_admin.has_add_permission(request)
        else None,
    }
    response = TemplateResponse(request, "admin/beep_shared/one_time_secret.html", context)
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    response["Pragma"] = "no-cache"
    return response
