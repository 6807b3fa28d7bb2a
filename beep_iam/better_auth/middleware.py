"""Django requests authenticated by better-auth's signed session cookie.

Place :class:`BetterAuthSessionMiddleware` after ``AuthenticationMiddleware`` and before
``TenantMiddleware``. A request carrying a correctly signed cookie for a live session of a
user who may authenticate gets that user as ``request.user`` and the session as
``request.beep_session``; ``TenantMiddleware`` then runs it as the session's active
organization if the user may still work there. Any other cookie leaves the request as it was
(anonymous, or Django's own login).

Django's logout (the admin's "Log out") ends the request's better-auth session and this
middleware deletes its cookies on the response; a password set in Django during the request
ends the user's other sessions (``beep_shared.models.session.end_other_sessions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from beep_iam.better_auth.sessions import end_session, session_cookie_names, session_from_request
from beep_iam.conf import SETTING_NAME, iam_settings
from beep_shared.models.session import acting_session


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
        acting = None
        if session is not None:
            current = getattr(request, "user", None)
            # A Django login of someone else wins; never mix one user with another's tenant.
            if current is None or not current.is_authenticated or current.pk == session.user_id:
                request.user = session.user
                request.beep_session = session  # type: ignore[attr-defined]
                acting = session.pk
        with acting_session(acting):
            response = self.get_response(request)
        if getattr(request, "_beep_session_ended", False):
            for name in session_cookie_names(request):
                response.delete_cookie(name, path="/")
        return response


def _end_on_logout(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    session = getattr(request, "beep_session", None) if request is not None else None
    if session is not None and request is not None:
        end_session(request, session)


def connect() -> None:
    user_logged_out.connect(_end_on_logout, dispatch_uid="beep_iam.better_auth.logout")
