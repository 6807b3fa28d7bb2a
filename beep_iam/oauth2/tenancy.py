"""The organization a grant is for (``reference_id``), chosen at consent as better-auth's
``postLogin.consentReferenceId`` chooses it.

``BEEP_IAM["OAUTH2_CONSENT_REFERENCE_ID"]`` names a callable ``(request, user, scopes) ->
str | None``; its answer is stored on the consent and the code, and so on every token of the
grant (refreshes keep it). :func:`active_tenant` is the one this package offers: the
organization the user works in at the moment (the session's, as the tenant middleware
chooses it), if the user may still work there.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from beep_iam.conf import iam_settings
from beep_shared.rls.access import may_work_in
from beep_shared.rls.middleware import session_tenant_id


def active_tenant(request: HttpRequest, user: Any, scopes: list[str]) -> str | None:
    organization = session_tenant_id(request)
    if organization is None or not may_work_in(user, organization):
        return None
    return organization


def consent_reference_id(request: HttpRequest, user: Any, scopes: list[str]) -> str | None:
    """The configured hook's answer, or None without one."""
    hook = iam_settings().oauth2_consent_reference_id
    if hook is None:
        return None
    value = hook(request, user, scopes)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"OAUTH2_CONSENT_REFERENCE_ID returned {value!r}, not a str or None")
    return value
