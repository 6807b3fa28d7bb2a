"""When the user of a request signed in, per session: OpenID Connect's ``auth_time``, and the
re-authentication that ``prompt=login`` and ``max_age`` ask for (OIDC Core 3.1.2.1).

A better-auth session (``request.beep_session``) signed in when it was created; a Django
session records the time of its ``login()`` (the ``user_logged_in`` signal). The user's
``last_login`` is no measure: it is the user's newest sign-in anywhere, so an old session would
look fresh as soon as the user signed in on another device.

When the server sends the user to sign in again, the authorization request goes to the login
page without its ``prompt=login`` / ``max_age`` (else it would ask forever) but with
:data:`PARAM`: signed, the time of that redirect and the sign-in of the user then signed in.
On the way back the session must have signed in after the redirect (within
:data:`CLOCK_SKEW`, for the clocks of two hosts) and not be that same sign-in; a holder of the
session, or of other stolen sessions, who opens the return URL without signing in gets the
login page again, on GET and on the consent POST alike. In a pushed request (PAR) the browser
cannot touch the parameter; in a plain one it can take it out, as it could take
``prompt=login`` out of the first URL: the ID token's
``auth_time`` stays the session's own, which a client asking for a sign-in checks (OIDC Core
3.1.2.1).
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.core import signing
from django.http import HttpRequest

SESSION_KEY = "_beep_iam_auth_time"
PARAM = "beep_signed_in_after"
_SALT = "beep_iam.oauth2.sign_in"
#: Prompt values that ask for a new sign-in (select_account: this server has one account per
#: sign-in, so choosing an account is signing in).
SIGN_IN_PROMPTS = frozenset({"login", "select_account"})
#: How far the clock of the host that records a sign-in may be behind the one that asked for
#: it (seconds): synchronized hosts' drift, no more; a session signed in within it before
#: the redirect (stolen and swapped in on the way back) would answer the marker.
CLOCK_SKEW = 5


def record(session: Any, user: Any, when: float) -> None:
    """Record in ``session`` that ``user`` signed in at ``when`` (Unix time)."""
    session[SESSION_KEY] = [str(user.pk), when]


def _remember(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        record(session, user, time.time())


def connect() -> None:
    user_logged_in.connect(_remember, dispatch_uid="beep_iam.oauth2.sign_in")


def signed_in_at(request: HttpRequest) -> float | None:
    """The Unix time at which the request's user signed in in this session, None when unknown
    (a Django session from before this was recorded). With both a better-auth and a Django
    session the later: the user signed in then in this browser. A Django session's record
    counts only for the user it names (the request's user may come from better-auth's cookie)."""
    times = []
    beep_session = getattr(request, "beep_session", None)
    if beep_session is not None and beep_session.created_at is not None:
        times.append(beep_session.created_at.timestamp())
    session = getattr(request, "session", None)
    value = session.get(SESSION_KEY) if session is not None else None
    user = getattr(request, "user", None)
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] == str(getattr(user, "pk", None))
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
    ):
        times.append(float(value[1]))
    return max(times) if times else None


def marker(request: HttpRequest) -> str:
    """The value of :data:`PARAM` for a request sent to sign in again now: when (``at``), and
    the sign-in of the user then signed in (``user``, ``was``; None when anonymous)."""
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    return signing.dumps(
        {
            "at": time.time(),
            "user": str(user.pk) if signed_in and user is not None else None,
            "was": signed_in_at(request) if signed_in else None,
        },
        salt=_SALT,
    )


def _answers(asked: Any, request: HttpRequest, signed_in: float) -> bool:
    """Whether the session's sign-in at ``signed_in`` answers the marker ``asked``: it
    happened after the server asked (give or take :data:`CLOCK_SKEW`: the host that signs in
    may not be the one that redirected), and it is not the sign-in the user then signed in
    had. A session older than the redirect (another stolen cookie put in meanwhile) answers
    nothing."""
    if not isinstance(asked, dict) or not isinstance(asked.get("at"), int | float):
        return False
    if signed_in < asked["at"] - CLOCK_SKEW:
        return False
    was = asked.get("was")
    same_user = asked.get("user") == str(getattr(request.user, "pk", None))
    return not (same_user and isinstance(was, int | float) and signed_in <= was)


def must_sign_in(request: HttpRequest, params: dict[str, str], prompts: set[str]) -> bool:
    """Whether the signed-in user must sign in (again) before this authorization request is
    answered: ``prompt=login`` or ``select_account``, a ``max_age`` exceeded or a sign-in time
    unknown, or a sign-in asked for by :func:`marker` that has not happened (or a marker that
    is not ours)."""
    if prompts & SIGN_IN_PROMPTS:
        return True
    signed_in = signed_in_at(request)
    # max_age: a non-negative integer (authorization_request); compared as numbers, since a
    # timedelta of a huge one overflows.
    if "max_age" in params and (
        signed_in is None or time.time() - signed_in > int(params["max_age"])
    ):
        return True
    if PARAM in params:
        try:
            asked = signing.loads(params[PARAM], salt=_SALT)
        except (signing.BadSignature, TypeError, ValueError):
            return True
        return signed_in is None or not _answers(asked, request, signed_in)
    return False


#: Why an impersonation session may not authorize a client: the consent and the tokens
#: would be the user's, outlive the impersonation (a refresh token), and carry no trace of
#: who acted (better-auth's admin plugin makes such sessions; ``session.impersonated_by``).
IMPERSONATION_REFUSED = (
    "An impersonation session cannot authorize applications for the user; sign in as yourself."
)


def impersonating(request: HttpRequest) -> bool:
    """Whether the request's session is an impersonation (better-auth's admin plugin)."""
    session = getattr(request, "beep_session", None)
    return getattr(session, "impersonated_by_id", None) is not None
