"""Django requests authenticated by better-auth's signed session cookie.

Place :class:`BetterAuthSessionMiddleware` after ``AuthenticationMiddleware`` and before
``TenantMiddleware``. A request carrying a correctly signed cookie for a live session of an
active, unbanned user gets that user as ``request.user`` and the session as
``request.beep_session``; ``TenantMiddleware`` then runs it as the session's active
organization. Any other cookie leaves the request as it was (anonymous, or Django's own login).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from beep_iam.better_auth.sessions import session_from_request
from beep_iam.conf import SETTING_NAME, iam_settings


class BetterAuthSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not iam_settings().better_auth_secret:
            raise ImproperlyConfigured(
                f"BetterAuthSessionMiddleware needs {SETTING_NAME}['BETTER_AUTH_SECRET'] "
                "(better-auth's secret, which signs its session cookie)."
            )
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = session_from_request(request)
        if session is not None:
            current = getattr(request, "user", None)
            # A Django login of someone else wins; never mix one user with another's tenant.
            if current is None or not current.is_authenticated or current.pk == session.user_id:
                request.user = session.user
                request.beep_session = session  # type: ignore[attr-defined]
        return self.get_response(request)
