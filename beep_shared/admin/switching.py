"""The admin's organization switcher: which organization a staff user works in.

The choice is the session key ``ACTIVE_TENANT_SESSION_KEY``; ``TenantMiddleware``
turns it into the request's tenant. Switching in and out are POSTs (CSRF-protected), offered
only for organizations the user may work in (its tenants). :func:`may_work_in` and
:func:`workable_tenant_ids` are the one place that decides it, through
``beep_shared.rls.access`` (``may_work_in``, ``tenants_for_user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.utils import quote
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from beep_shared.rls import access
from beep_shared.rls.access import tenants_for_user
from beep_shared.rls.context import current_scope
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY

# The hidden form the changelist's "Work here" buttons submit (buttons inside the list
# cannot hold forms of their own: the list is itself a form).
SWITCH_FORM_ID = "beep-switch-organization"


def active_tenant_id(request: HttpRequest) -> str | None:
    session = getattr(request, "session", None)
    return session.get(ACTIVE_TENANT_SESSION_KEY) if session is not None else None


def may_work_in(user: Any, organization_id: str) -> bool:
    # The middleware re-checks every admin request with the same rule.
    return access.may_work_in(user, organization_id)


def workable_tenant_ids(user: Any, candidates: Iterable[str]) -> set[str]:
    """Those of ``candidates`` (one page of organizations) ``user`` may work in."""
    ids = list(candidates)
    if not ids:
        return set()
    return set(tenants_for_user(user).filter(pk__in=ids).values_list("pk", flat=True))


def activate_url(organization_id: str) -> str:
    return reverse("admin:beep_shared_organization_activate", args=[quote(organization_id)])


def deactivate_url() -> str:
    return reverse("admin:beep_shared_organization_deactivate")


def leave_form(request: HttpRequest, label: str = "Leave") -> SafeString:
    """A one-button form that stops working in the active organization."""
    return format_html(
        '<form method="post" action="{}" class="beep-object-form">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<input type="hidden" name="next" value="{}">'
        '<button type="submit" class="beep-inline-button">{}</button></form>',
        deactivate_url(),
        get_token(request),
        request.get_full_path(),
        label,
    )


def scope_marker(request: HttpRequest) -> SafeString:
    """Where admin pages look right now, for the page header: the scope of this request."""
    from beep_shared.models import Organization

    scope = current_scope()
    if scope.tenant_id:
        name = (
            Organization.objects.filter(pk=scope.tenant_id).values_list("name", flat=True).first()
        )
        return format_html(
            '<span class="beep-scope" id="beep-scope">Organization: <strong>{}</strong> {}</span>',
            name or scope.tenant_id,
            leave_form(request),
        )
    text = "All organizations" if scope.is_bypass else "No organization"
    return format_html('<span class="beep-scope" id="beep-scope"><strong>{}</strong></span>', text)
