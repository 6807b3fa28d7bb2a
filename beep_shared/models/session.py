from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import pgtrigger
from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from beep_shared import secrets
from beep_shared.db.fields import ForeignKey, TextIPAddressField
from beep_shared.labels import related_label

from .base import Table

DEFAULT_SESSION_LIFETIME = timedelta(days=7)

# better-auth writes '' when a request carries no client IP; store NULL, and keep the column
# as strict as the reference's inet: anything else must parse (and is kept in inet's form).
NORMALIZE_IP = pgtrigger.Trigger(
    name="session_normalize_ip",
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("ip_address"),
    when=pgtrigger.Before,
    func=("NEW.ip_address := host(nullif(btrim(NEW.ip_address), '')::inet); RETURN NEW;"),
)


def stored_token(raw: str) -> str:
    """``session.token`` for the token ``raw``: its digest, or the token itself when beep_iam's
    ``SESSION_TOKEN_STORAGE`` is ``"plain"`` (sharing sessions with better-auth)."""
    if apps.is_installed("beep_iam"):
        from beep_iam.better_auth.sessions import stored_token as configured

        return configured(raw)
    return secrets.digest(raw)


class SessionManager(models.Manager["Session"]):
    def create_session(
        self,
        user: Any,
        *,
        expires_at: datetime | None = None,
        **fields: Any,
    ) -> tuple[Session, str]:
        """Create a session; return it with its raw token (stored as :func:`stored_token`)."""
        raw = secrets.generate_token()
        lifetime = getattr(settings, "BEEP_SESSION_LIFETIME", DEFAULT_SESSION_LIFETIME)
        session = self.create(
            user=user,
            token=stored_token(raw),
            expires_at=expires_at or timezone.now() + lifetime,
            **fields,
        )
        return session, raw

    def get_by_token(self, raw: str) -> Session | None:
        """The unexpired session whose token is ``raw``, or ``None``."""
        return (
            self.filter(token=stored_token(raw), expires_at__gt=timezone.now())
            .select_related("user")
            .first()
        )


class Session(Table):
    """A login session. ``token`` holds the SHA-256 digest of the session token, or the token
    itself under ``SESSION_TOKEN_STORAGE = "plain"``; never shown either way."""

    token = models.TextField(
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

    base_triggers: ClassVar[list[Any]] = [*Table.base_triggers, NORMALIZE_IP]

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
