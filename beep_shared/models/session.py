from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, ClassVar

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from beep_shared import crypto
from beep_shared.conf import shared_settings
from beep_shared.db.fields import ForeignKey, TextIPAddressField
from beep_shared.db.show_once import DigestField, ShowOnceMixin
from beep_shared.labels import related_label

from .base import Table
from .lifecycle import Expires, ExpiringQuerySet

# better-auth writes '' when a request carries no client IP; store NULL, and keep the column
# as strict as the reference's inet: anything else must parse (and is kept in inet's form).
NORMALIZE_IP = pgtrigger.Trigger(
    name="session_normalize_ip",
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("ip_address"),
    when=pgtrigger.Before,
    func=("NEW.ip_address := host(nullif(btrim(NEW.ip_address), '')::inet); RETURN NEW;"),
)


# session.impersonated_by is ON DELETE SET NULL (better-auth's schema): deleting the
# impersonator would otherwise leave a session that reads as the user's own, with all the
# user's rights (the cap of User.cap_rights needs the impersonator). Ending the
# impersonation ends its session; better-auth's stop-impersonating deletes it anyway.
IMPERSONATION_ENDS_SESSION = pgtrigger.Trigger(
    name="session_impersonation_ends",
    operation=pgtrigger.UpdateOf("impersonated_by"),
    when=pgtrigger.Before,
    condition=pgtrigger.Q(old__impersonated_by__isnull=False, new__impersonated_by__isnull=True),
    func=(
        # Later than created_at, as the table's CHECK wants, and past for every request.
        "NEW.expires_at := LEAST(NEW.expires_at, "
        "GREATEST(now(), NEW.created_at + interval '1 microsecond')); RETURN NEW;"
    ),
)


@sensitive_variables()
def stored_token(raw: str) -> str:
    """``session.token`` for the token ``raw`` under ``BEEP_SHARED["SESSION_TOKEN_STORAGE"]``
    (:data:`beep_shared.conf.SESSION_TOKEN_STORAGES`)."""
    if shared_settings().session_token_storage == "plain":
        return raw
    return crypto.digest(raw)


# The session the current request is authenticated by (set by the layer that reads it, e.g.
# beep_iam's better-auth cookie middleware): a password change ends the user's *other* ones.
_acting_session: ContextVar[str | None] = ContextVar("beep_acting_session", default=None)


@contextmanager
def acting_session(session_id: str | None) -> Iterator[None]:
    """Run code as authenticated by the session ``session_id``."""
    reset = _acting_session.set(session_id)
    try:
        yield
    finally:
        _acting_session.reset(reset)


def end_other_sessions(user: Any) -> int:
    """Delete every session of ``user`` but the one acting now (its password changed)."""
    sessions = Session.objects.db_manager(user._state.db).filter(user_id=user.pk)
    current = _acting_session.get()
    if current is not None:
        sessions = sessions.exclude(pk=current)
    return sessions.delete()[0]


class SessionTokenField(DigestField):
    """``session.token``: shown once, stored as :func:`stored_token` (a digest, or the token
    itself under the "plain" storage better-auth co-tenancy needs); never displayed."""

    description = "Session token (digest, or the token for better-auth)"

    @sensitive_variables()
    def stored_form(self, raw: str) -> str:
        return stored_token(raw)


class SessionQuerySet(ShowOnceMixin, ExpiringQuerySet):
    def live(self, now: datetime | None = None) -> SessionQuerySet:
        """Sessions that may authenticate: not expired, not soft-deleted (their users' own
        rule, ``User.may_authenticate``, is asked of the user)."""
        return self.unexpired(now).filter(deleted_at__isnull=True)


class SessionManager(models.Manager["Session"]):
    def get_queryset(self) -> SessionQuerySet:
        return SessionQuerySet(self.model, using=self._db)

    def create_session(
        self,
        user: Any,
        *,
        expires_at: datetime | None = None,
        **fields: Any,
    ) -> tuple[Session, str]:
        """Create a session; return it with its raw token (stored as :func:`stored_token`)."""
        lifetime = shared_settings().session_lifetime
        return self.get_queryset().create_with_secret(
            user=user, expires_at=expires_at or timezone.now() + lifetime, **fields
        )

    @sensitive_variables()
    def get_by_token(self, raw: str) -> Session | None:
        """The live session whose token is ``raw`` (not expired, not soft-deleted) and whose
        user may authenticate, or ``None``."""
        session = (
            self.get_queryset()
            .live()
            .by_secret(raw)
            .select_related("user", "impersonated_by")
            .first()
        )
        if session is None or not session.user.may_authenticate():
            return None
        return session


class Session(Expires, Table):
    """A login session. ``token`` holds the SHA-256 digest of the session token, or the token
    itself under the "plain" storage (``BEEP_SHARED["SESSION_TOKEN_STORAGE"]``); never shown
    either way."""

    token = SessionTokenField(
        help_text="SHA-256 digest (base64url) of the session token, or the token itself when "
        "sessions are shared with better-auth (SESSION_TOKEN_STORAGE 'plain')."
    )
    expires_at = models.DateTimeField()
    ip_address = TextIPAddressField(null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)
    user = ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions")
    impersonated_by = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_column="impersonated_by",
        related_name="impersonated_sessions",
    )
    active_organization = ForeignKey(
        "beep_shared.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="active_sessions",
    )
    active_team = ForeignKey(
        "beep_shared.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="active_sessions",
    )

    objects = SessionManager()

    base_triggers: ClassVar[list[Any]] = [
        *Table.base_triggers,
        NORMALIZE_IP,
        IMPERSONATION_ENDS_SESSION,
    ]

    class Meta:
        db_table = "session"
        constraints = [
            models.UniqueConstraint(fields=["token"], name="session_token_key"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="session_expires_after_created",
                violation_error_message="expires_at must be later than created_at.",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="session_user_id_idx"),
            models.Index(fields=["expires_at"], name="session_expires_at_idx"),
            models.Index(fields=["user", "expires_at"], name="session_user_expires_idx"),
            models.Index(fields=["active_organization"], name="session_active_org_idx"),
            models.Index(fields=["active_team"], name="session_active_team_idx"),
            models.Index(fields=["impersonated_by"], name="session_impersonated_by_idx"),
        ]

    def __str__(self) -> str:
        until = f" until {self.expires_at:%Y-%m-%d %H:%M}" if self.expires_at else ""
        return f"session of {related_label(self, 'user', 'email')}{until}"
