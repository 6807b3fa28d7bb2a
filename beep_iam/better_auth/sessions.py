"""The session a better-auth cookie names.

Its token is looked up in the form ``BEEP_SHARED["SESSION_TOKEN_STORAGE"]`` chooses (beep_shared's
``Session`` owns that rule). ``"digest"`` (default) keeps SHA-256 digests in ``session.token``:
a copy of the table opens no session, but a stock better-auth server, which looks sessions
up by the token itself, finds none of them. ``"plain"`` stores what better-auth stores, so
sessions cross both ways; the trade-off is in docs/better-auth.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from beep_iam.better_auth import signing
from beep_iam.conf import IamSettings, iam_settings

if TYPE_CHECKING:
    from beep_shared.models import Session

SECURE_PREFIX = "__Secure-"
# better-auth's tokens are 32 characters and this project's 43; anything far longer is junk.
MAX_TOKEN_LENGTH = 256


def session_cookie_name(request: HttpRequest | None, conf: IamSettings | None = None) -> str:
    """better-auth's session cookie name for ``request`` (``__Secure-`` prefixed over HTTPS
    unless ``BETTER_AUTH_SECURE_COOKIES`` says otherwise)."""
    conf = conf or iam_settings()
    name = conf.better_auth_session_cookie or f"{conf.better_auth_cookie_prefix}.session_token"
    secure = conf.better_auth_secure_cookies
    if secure is None:
        secure = request is not None and request.is_secure()
    return f"{SECURE_PREFIX}{name}" if secure else name


def session_cookie_names(request: HttpRequest, conf: IamSettings | None = None) -> list[str]:
    """better-auth's cookies of a session: the token, its cookie cache and "don't remember"."""
    conf = conf or iam_settings()
    token = session_cookie_name(request, conf)
    prefix = token[: -len("session_token")] if token.endswith("session_token") else None
    if prefix is None:
        secure = token.startswith(SECURE_PREFIX)
        prefix = f"{SECURE_PREFIX if secure else ''}{conf.better_auth_cookie_prefix}."
    return [token, f"{prefix}session_data", f"{prefix}dont_remember"]


@sensitive_variables()
def signed_session_cookie(raw: str, conf: IamSettings | None = None) -> str:
    """The session cookie value better-auth would set for the session token ``raw``."""
    conf = conf or iam_settings()
    if not conf.better_auth_secret:
        raise ValueError("BEEP_IAM['BETTER_AUTH_SECRET'] is not set")
    return signing.sign(raw, conf.better_auth_secret)


@sensitive_variables()
def token_from_request(request: HttpRequest, conf: IamSettings) -> str | None:
    """The session token of a correctly signed better-auth cookie, else ``None``."""
    if not conf.better_auth_secret:
        return None
    cookie = request.COOKIES.get(session_cookie_name(request, conf))
    if not cookie:
        return None
    token = signing.unsign(cookie, conf.better_auth_secret)
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        return None
    return token


@sensitive_variables()
def session_from_request(request: HttpRequest, conf: IamSettings | None = None) -> Session | None:
    """The live session of a request's better-auth cookie whose user may sign in, or ``None``.

    Bad signatures, unknown, expired or soft-deleted sessions, and users who may not
    authenticate (``User.may_authenticate``: inactive, banned, soft-deleted) all give ``None``.
    An impersonation session (``impersonated_by``) acts as the impersonated user with at most
    the impersonator's Django rights (``User.cap_rights``), and only while the impersonator
    may sign in; deleting the impersonator ends it (trigger ``session_impersonation_ends``).
    """
    from beep_shared.models import Session

    conf = conf or iam_settings()
    token = token_from_request(request, conf)
    if token is None:
        return None
    session = Session.objects.get_by_token(token)
    if session is None:
        return None
    if session.impersonated_by_id is not None:
        impersonator = session.impersonated_by
        # An impersonator who may no longer sign in (banned, deactivated, soft-deleted)
        # acts as no one.
        if impersonator is None or not impersonator.may_authenticate():
            return None
        session.user.cap_rights(impersonator)
    return session


def end_session(request: HttpRequest, session: Session) -> None:
    """Delete ``session`` (better-auth's sign-out does the same) and have
    :class:`~beep_iam.better_auth.middleware.BetterAuthSessionMiddleware` delete its cookies
    on the response."""
    type(session)._default_manager.using(session._state.db).filter(pk=session.pk).delete()
    request._beep_session_ended = True  # type: ignore[attr-defined]
