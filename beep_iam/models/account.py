"""``account``: a user's link to an identity provider, or their password credential."""

from __future__ import annotations

from typing import Any, ClassVar

import pgtrigger
from django.conf import settings
from django.contrib.auth.hashers import check_password, is_password_usable, make_password
from django.db import models
from django.views.decorators.debug import sensitive_variables

from beep_iam.better_auth.hashers import (
    hash_for_better_auth,
    is_better_auth_hash,
    verify_better_auth,
)
from beep_iam.conf import iam_settings
from beep_shared.db.fields import ForeignKey
from beep_shared.db.show_once import SecretField, secret_fields
from beep_shared.labels import related_label
from beep_shared.models import Table

# better-auth's provider id of email-and-password accounts.
CREDENTIAL_PROVIDER = "credential"

# An account never changes hands: moving a credential (or a Google) account to another user
# would sign its holder in as that user (the Django backend and better-auth find the account
# by user). Every writer is held to it, raw SQL and better-auth included (better-auth never
# updates these columns); to re-link, delete the account and add another.
IMMUTABLE_ACCOUNT_FIELDS = ("user", "provider_id")
KEEPS_ITS_OWNER = pgtrigger.Trigger(
    name="account_keeps_its_owner",
    operation=pgtrigger.UpdateOf("user_id", "provider_id"),
    when=pgtrigger.Before,
    func=(
        "IF NEW.user_id IS DISTINCT FROM OLD.user_id "
        "OR NEW.provider_id IS DISTINCT FROM OLD.provider_id THEN "
        "RAISE EXCEPTION 'account %: an account never changes its user or provider "
        "(delete it and add another)', OLD.id USING ERRCODE = 'integrity_constraint_violation'; "
        "END IF; RETURN NEW;"
    ),
)

# With BETTER_AUTH_PASSWORDS the credential account holds the one password and
# user.password an unusable marker; Django's session hash and the tenant check's fingerprint
# are derived from user.password. A password change or reset through better-auth, or the
# lock-out (deleting the credential), gives the marker a new value, so the user's Django
# sessions end as they do when Django changes a password. A usable user.password is Django's
# own (co-tenancy off): left alone.
CREDENTIAL_CHANGE_ENDS_SESSIONS = pgtrigger.Trigger(
    name="account_credential_ends_sessions",
    operation=pgtrigger.UpdateOf("password") | pgtrigger.Delete,
    when=pgtrigger.After,
    condition=pgtrigger.Q(old__provider_id=CREDENTIAL_PROVIDER),
    func=(
        "IF TG_OP = 'DELETE' OR NEW.password IS DISTINCT FROM OLD.password THEN "
        "UPDATE \"user\" SET password = '!' || substr(md5(random()::text "
        "|| clock_timestamp()::text || OLD.id), 1, 32) "
        "WHERE id = OLD.user_id AND password LIKE '!%'; "
        "END IF; RETURN NULL;"
    ),
)


class Account(Table):
    """An external provider account (OAuth/OIDC) or the password credential of a user.

    ``access_token``, ``refresh_token`` and ``id_token`` are the provider's tokens; the app sends
    them back to the provider, so they are kept as issued (not digested) and never displayed.
    ``password`` holds a password hash (see :meth:`set_password`), never the password: Django's
    own, or better-auth's scrypt ``salt:key`` on a credential account shared with better-auth.
    """

    account_id = models.TextField(help_text="The user's id at the provider.")
    provider_id = models.TextField(help_text="Provider key, e.g. 'google' or 'credential'.")
    user = ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="accounts")
    access_token = SecretField(null=True, blank=True)
    refresh_token = SecretField(null=True, blank=True)
    id_token = SecretField(null=True, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.TextField(null=True, blank=True)
    password = SecretField(null=True, blank=True, help_text="Django password hash.")

    base_triggers: ClassVar[list[Any]] = [
        *Table.base_triggers,
        KEEPS_ITS_OWNER,
        CREDENTIAL_CHANGE_ENDS_SESSIONS,
    ]

    class Meta:
        db_table = "account"
        constraints = [
            models.UniqueConstraint(
                fields=["provider_id", "account_id"], name="account_provider_id_account_id_key"
            ),
        ]
        # The reference also indexes user_id and provider_id alone; those lookups are served
        # by the leading column of the index below and of the unique index above, so separate
        # single-column indexes would only slow writes down.
        indexes = [
            models.Index(fields=["user", "provider_id"], name="account_user_provider_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} account of {related_label(self, 'user', 'email')}"

    @sensitive_variables()
    def set_password(self, raw_password: str | None) -> None:
        """Store a hash of ``raw_password`` (not saved yet); ``None`` removes the credential.

        A credential account gets better-auth's scrypt form when ``BETTER_AUTH_PASSWORDS`` is on.
        """
        if raw_password is None:
            self.password = None
        elif self.provider_id == CREDENTIAL_PROVIDER and iam_settings().better_auth_passwords:
            self.password = hash_for_better_auth(raw_password)
        else:
            self.password = make_password(raw_password)

    @sensitive_variables()
    def check_password(self, raw_password: str) -> bool:
        """Whether ``raw_password`` matches; re-hashes and saves with a newer hasher if due."""

        def upgrade(raw: str) -> None:
            self.set_password(raw)
            self.save(update_fields=["password"])

        encoded = self.password
        if is_better_auth_hash(encoded):
            # Written by (or for) better-auth: left in its form, never "upgraded" away from it.
            return verify_better_auth(raw_password, encoded)
        if not encoded or not is_password_usable(encoded):
            return False
        return check_password(raw_password, encoded, upgrade)

    def has_usable_password(self) -> bool:
        if is_better_auth_hash(self.password):
            return True
        return bool(self.password) and is_password_usable(self.password)

    @property
    def stored_secrets(self) -> list[str]:
        """Names of the secret columns that hold a value (their values are never listed)."""
        return [field.name for field in secret_fields(type(self)) if getattr(self, field.attname)]
