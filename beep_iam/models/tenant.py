"""Tenant-scoped IAM tables: each row belongs to one organization (``TenantModel``).

Row level security shows a transaction only its tenant's rows (``beep_shared.rls``).
``apikey``, ``sso_provider`` and ``scim_provider`` use the nullable mode: a row without an
organization (a personal API key, an instance-wide identity provider) is visible to all.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from beep_shared.db.choices import choices_check
from beep_shared.db.fields import ForeignKey
from beep_shared.db.show_once import (
    DigestField,
    ShowOnceMixin,
    ShowOnceQuerySet,
    digest_field,
    set_new_secret,
)
from beep_shared.labels import related_label
from beep_shared.models import TenantModel
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet
from beep_shared.rls import NULLABLE

__all__ = [
    "ApiKey",
    "Invitation",
    "InvitationStatus",
    "Member",
    "MemberRole",
    "MemberStatus",
    "OrganizationRole",
    "ScimProvider",
    "SsoProvider",
    "Subscription",
    "SubscriptionState",
    "TeamMember",
]

DAY_MS = 86_400_000


class MemberRole(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    OWNER = "owner", "Owner"


class MemberStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    OFFLINE = "offline", "Offline"
    SUSPENDED = "suspended", "Suspended"
    DELETED = "deleted", "Deleted"
    INVITED = "invited", "Invited"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    # better-auth's spelling: its cancelInvitation writes it, and reads it back.
    CANCELED = "canceled", "Canceled (better-auth)"
    ACCEPTED = "accepted", "Accepted"


class SubscriptionState(models.TextChoices):
    """Stripe's subscription statuses (better-auth's stripe plugin stores them as is)."""

    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


def _same_organization_as_team(row: Any) -> None:
    """A row pointing at a team belongs to that team's organization."""
    if row.team_id is None:
        return
    if row.organization_id is None:
        row.organization_id = row.team.organization_id
    elif row.team.organization_id != row.organization_id:
        raise ValidationError(
            {"team": "team must belong to the row's organization."}, code="team_organization"
        )


# better-auth creates an organization, then its owner's membership, and never writes
# organization.owner_user_id: the first owner membership fills it in.
SETS_ORGANIZATION_OWNER = pgtrigger.Trigger(
    name="member_sets_org_owner",
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("role"),
    when=pgtrigger.After,
    condition=pgtrigger.Q(new__role="owner"),
    func=(
        "UPDATE organization SET owner_user_id = NEW.user_id "
        "WHERE id = NEW.organization_id AND owner_user_id IS NULL; RETURN NULL;"
    ),
)

# ... and nothing else keeps it: organization.owner_user_id lets its user work in the
# organization (beep_shared.rls.access.may_work_in), so when its owner membership ends (better-
# auth's remove-member or leave, a demotion, a suspension, a soft delete) it passes to the
# oldest remaining active owner, or to none.
_ACTIVE_OWNER = "m.role = 'owner' AND m.status = 'active' AND m.deleted_at IS NULL"
OWNER_LEAVES_ORGANIZATION = pgtrigger.Trigger(
    name="member_owner_leaves_org",
    operation=pgtrigger.Delete
    | pgtrigger.UpdateOf("role", "status", "deleted_at", "user_id", "organization_id"),
    when=pgtrigger.After,
    condition=pgtrigger.Q(old__role="owner"),
    func=(
        "UPDATE organization o SET owner_user_id = ("
        "SELECT m.user_id FROM member m "
        f"WHERE m.organization_id = OLD.organization_id AND {_ACTIVE_OWNER} "
        "ORDER BY m.created_at, m.row_id LIMIT 1) "
        "WHERE o.id = OLD.organization_id AND o.owner_user_id = OLD.user_id "
        "AND NOT EXISTS (SELECT 1 FROM member m WHERE m.organization_id = OLD.organization_id "
        f"AND m.user_id = OLD.user_id AND {_ACTIVE_OWNER}); RETURN NULL;"
    ),
)

# better-auth never writes team_member.organization_id; 1.7 writes membership_key
# (base64url SHA-256 of the JSON array [teamId, userId]) and finds rows by it, so rows other
# writers add get the same key.
DERIVE_TEAM_MEMBER_COLUMNS = pgtrigger.Trigger(
    name="team_member_derive_org",
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("team_id", "user_id"),
    when=pgtrigger.Before,
    func=(
        "IF NEW.organization_id IS NULL OR NEW.organization_id = '' THEN "
        "NEW.organization_id := (SELECT organization_id FROM team WHERE id = NEW.team_id); "
        "END IF; "
        "IF TG_OP = 'INSERT' AND NEW.membership_key IS NULL OR TG_OP = 'UPDATE' THEN "
        "NEW.membership_key := rtrim(translate(encode(sha256(convert_to("
        "'[\"' || NEW.team_id || '\",\"' || NEW.user_id || '\"]', 'UTF8')), 'base64'), "
        "'+/', '-_'), '='); "
        "END IF; RETURN NEW;"
    ),
)


class Member(TenantModel):
    """A user's membership of an organization."""

    base_triggers: ClassVar[list[Any]] = [
        *TenantModel.base_triggers,
        SETS_ORGANIZATION_OWNER,
        OWNER_LEAVES_ORGANIZATION,
    ]

    user = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.TextField(
        choices=MemberRole.choices, default=MemberRole.MEMBER, db_default="member"
    )
    status = models.TextField(
        choices=MemberStatus.choices, default=MemberStatus.ACTIVE, db_default="active"
    )
    invited_by = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_column="invited_by",
        related_name="invited_members",
    )
    invited_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    permissions = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "member"
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="member_org_user_key"),
            choices_check("member", "role", MemberRole),
            choices_check("member", "status", MemberStatus),
        ]
        indexes = [
            models.Index(fields=["user"], name="member_user_id_idx"),
            models.Index(fields=["organization", "role"], name="member_org_role_idx"),
            models.Index(fields=["organization", "status"], name="member_org_status_idx"),
            models.Index(fields=["status"], name="member_status_idx"),
            models.Index(fields=["invited_by"], name="member_invited_by_idx"),
            models.Index(fields=["last_active_at"], name="member_last_active_at_idx"),
        ]

    def __str__(self) -> str:
        organization = related_label(self, "organization", "name")
        return f"{related_label(self, 'user', 'email')} in {organization}"

    @classmethod
    def tenant_memberships(cls, user: Any) -> models.QuerySet[Member]:
        return cls.objects.filter(user=user, status=MemberStatus.ACTIVE, deleted_at__isnull=True)


class TeamMember(TenantModel):
    """A user's membership of a team; its organization is the team's."""

    # better-auth never writes organization_id: an INSERT without it gets the database default
    # '' (so the column does not claim to need a value), which the trigger replaces with the
    # team's organization. Django inserts the value it has (None, or the team's from save()).
    organization = ForeignKey(
        "beep_shared.Organization",
        on_delete=models.CASCADE,
        related_name="teammembers",
        default=None,
        # A plain '' would be checked as an organization id; the column is text.
        db_default=models.Value("", output_field=models.TextField()),
    )
    team = ForeignKey("beep_shared.Team", on_delete=models.CASCADE, related_name="team_members")
    user = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    membership_key = models.TextField(
        null=True, blank=True, editable=False, help_text="better-auth 1.7's key of (team, user)."
    )

    base_triggers: ClassVar[list[Any]] = [*TenantModel.base_triggers, DERIVE_TEAM_MEMBER_COLUMNS]

    class Meta:
        db_table = "team_member"
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="team_member_team_user_key"),
            models.UniqueConstraint(
                fields=["membership_key"], name="team_member_membership_key_key"
            ),
        ]
        indexes = [models.Index(fields=["user"], name="team_member_user_id_idx")]

    def __str__(self) -> str:
        return (
            f"{related_label(self, 'user', 'email')} in team {related_label(self, 'team', 'name')}"
        )

    def clean(self) -> None:
        super().clean()
        _same_organization_as_team(self)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.organization_id is None and self.team_id is not None:
            self.organization_id = self.team.organization_id
        super().save(*args, **kwargs)


class Invitation(Expires, TenantModel):
    """An invitation of an email address to an organization (and optionally a team)."""

    email = models.EmailField(max_length=320)
    role = models.TextField(null=True, blank=True)
    team = ForeignKey(
        "beep_shared.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
    )
    status = models.TextField(
        choices=InvitationStatus.choices, default=InvitationStatus.PENDING, db_default="pending"
    )
    expires_at = models.DateTimeField()
    inviter = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_invitations"
    )

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        db_table = "invitation"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(status="pending"),
                name="invitation_org_email_pending_key",
                violation_error_message="email already has a pending invitation to this "
                "organization.",
            ),
            choices_check("invitation", "status", InvitationStatus),
        ]
        indexes = [
            models.Index(fields=["email"], name="invitation_email_idx"),
            models.Index(fields=["inviter"], name="invitation_inviter_id_idx"),
            models.Index(fields=["expires_at"], name="invitation_expires_at_idx"),
            models.Index(fields=["team"], name="invitation_team_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {related_label(self, 'organization', 'name')}"

    def clean(self) -> None:
        super().clean()
        if self.email:
            self.email = self.email.strip().lower()
        _same_organization_as_team(self)


class OrganizationRole(TenantModel):
    """A custom role of an organization and its permission statement."""

    role = models.TextField()
    permission = models.TextField()

    class Meta:
        db_table = "organization_role"
        verbose_name = "organization role"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "role"], name="organization_role_org_role_key"
            ),
        ]

    def __str__(self) -> str:
        return self.role


class Subscription(TenantModel):
    """A billing subscription (better-auth's stripe plugin)."""

    plan = models.TextField()
    reference_id = models.TextField()
    stripe_customer_id = models.TextField(null=True, blank=True)
    stripe_subscription_id = models.TextField(null=True, blank=True)
    status = models.TextField(
        choices=SubscriptionState.choices,
        default=SubscriptionState.INCOMPLETE,
        db_default="incomplete",
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False, db_default=False)
    seats = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "subscription"
        constraints = [
            choices_check("subscription", "status", SubscriptionState),
            models.CheckConstraint(
                condition=Q(seats__isnull=True) | Q(seats__gte=0),
                name="subscription_seats_non_negative",
                violation_error_message="seats must be 0 or more.",
            ),
        ]
        indexes = [
            models.Index(fields=["stripe_subscription_id"], name="subscription_stripe_sub_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} plan of {related_label(self, 'organization', 'name')}"


class ApiKeyQuerySet(ShowOnceMixin, ExpiringQuerySet):
    @sensitive_variables("raw")
    def create_key(self, user: Any, *, prefix: str = "", **fields: Any) -> tuple[ApiKey, str]:
        """Create a key; return it with the raw key, which is stored only as a digest."""
        raw = ApiKey.new_raw_key(prefix)
        key, _ = self.create_with_secret(
            raw=raw, user=user, prefix=prefix or None, start=raw[:6], **fields
        )
        return key, raw

    def get_by_key(self, raw: str) -> ApiKey | None:
        """The usable key whose raw value is ``raw`` (among the rows this tenant sees):
        enabled, unexpired, not soft-deleted, not used up (``remaining`` 0), of a user who may
        sign in (``User.may_authenticate``: a key acts as its user)."""
        key = (
            self.by_secret(raw)
            .unexpired()
            .filter(enabled=True, deleted_at__isnull=True)
            .exclude(remaining=0)
            .select_related("user")
            .first()
        )
        return key if key is not None and key.user.may_authenticate() else None


class ApiKey(Expires, TenantModel):
    """A programmatic API key. ``key`` holds the SHA-256 digest, never the key."""

    rls_mode = NULLABLE

    name = models.TextField(null=True, blank=True)
    start = models.TextField(null=True, blank=True, help_text="First characters, for display.")
    prefix = models.TextField(null=True, blank=True)
    key = DigestField(help_text="SHA-256 digest (base64url) of the key.")
    user = ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    refill_interval = models.IntegerField(null=True, blank=True)
    refill_amount = models.IntegerField(null=True, blank=True)
    last_refill_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True, db_default=True)
    rate_limit_enabled = models.BooleanField(default=True, db_default=True)
    rate_limit_time_window = models.IntegerField(default=DAY_MS, db_default=DAY_MS)
    rate_limit_max = models.IntegerField(default=10, db_default=10)
    request_count = models.IntegerField(null=True, blank=True)
    remaining = models.IntegerField(null=True, blank=True)
    last_request = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    permissions = models.TextField(null=True, blank=True)
    metadata = models.TextField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        db_table = "apikey"
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.UniqueConstraint(fields=["key"], name="apikey_key_key"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0}),
                    name=f"apikey_{field}_non_negative",
                    violation_error_message=f"{field} must be 0 or more.",
                )
                for field in ("request_count", "remaining", "refill_amount")
            ),
            models.CheckConstraint(
                condition=Q(refill_interval__isnull=True) | Q(refill_interval__gt=0),
                name="apikey_refill_interval_positive",
                violation_error_message="refill_interval must be more than 0.",
            ),
            models.CheckConstraint(
                condition=Q(rate_limit_time_window__gt=0),
                name="apikey_rate_limit_time_window_positive",
                violation_error_message="rate_limit_time_window must be more than 0.",
            ),
            models.CheckConstraint(
                condition=Q(rate_limit_max__gt=0),
                name="apikey_rate_limit_max_positive",
                violation_error_message="rate_limit_max must be more than 0.",
            ),
        ]
        indexes = [models.Index(fields=["user"], name="apikey_user_id_idx")]

    def __str__(self) -> str:
        label = self.name or "API key"
        return f"{label} ({self.start}…)" if self.start else label

    def __repr__(self) -> str:
        return f"<ApiKey {self.pk}>"

    @staticmethod
    def new_raw_key(prefix: str = "") -> str:
        return f"{prefix}{digest_field(ApiKey).generate()}"

    @sensitive_variables("raw")
    def set_new_key(self) -> str:
        """Give the key a new secret (not saved) under its prefix; return the raw key."""
        raw = self.new_raw_key(self.prefix or "")
        set_new_secret(self, raw)
        self.start = raw[:6]
        return raw


_SAML_KEYS = ("privateKey", "privateKeyPass", "encPrivateKey", "encPrivateKeyPass")

# What better-auth's admin answers leave out (@better-auth/sso withoutOIDCSecret /
# withoutSAMLPrivateKeys): it keeps these in clear inside the JSON text, since it calls the
# identity provider with them, so Django cannot store a digest; it never shows them instead.
CONFIG_SECRETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "oidc_config": (("clientSecret",),),
    "saml_config": (
        ("privateKey",),
        *((part, key) for part in ("idpMetadata", "spMetadata") for key in _SAML_KEYS),
    ),
}
HIDDEN = "********"


def _config(text: str | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _holder(config: Any, path: tuple[str, ...]) -> dict[str, Any] | None:
    """The dict of ``config`` that holds ``path``'s last key, if there is one."""
    for part in path[:-1]:
        config = config.get(part) if isinstance(config, dict) else None
    return config if isinstance(config, dict) else None


class SsoProvider(TenantModel):
    """An OIDC or SAML identity provider, for one organization or (NULL) the instance."""

    rls_mode = NULLABLE
    # No admin filter may compare part of them (beep_shared.db.show_once.holds_secret).
    secret_holding_fields: ClassVar[tuple[str, ...]] = tuple(CONFIG_SECRETS)

    issuer = models.TextField()
    oidc_config = models.TextField(null=True, blank=True)
    saml_config = models.TextField(null=True, blank=True)
    user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sso_providers",
    )
    provider_id = models.TextField()
    domain = models.TextField()

    class Meta:
        db_table = "sso_provider"
        verbose_name = "SSO provider"
        verbose_name_plural = "SSO providers"
        constraints = [
            models.UniqueConstraint(fields=["provider_id"], name="sso_provider_provider_id_key"),
        ]
        indexes = [
            models.Index(fields=["domain"], name="sso_provider_domain_idx"),
            models.Index(fields=["user"], name="sso_provider_user_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} ({self.domain})"

    def shown_config(self, name: str) -> str | None:
        """The ``oidc_config``/``saml_config`` text for display: every secret hidden."""
        text = getattr(self, name)
        if not text:
            return text
        config = _config(text)
        if config is None:  # not better-auth's JSON: nothing in it can be told apart
            return HIDDEN
        for path in CONFIG_SECRETS[name]:
            holder = _holder(config, path)
            if holder is not None and holder.get(path[-1]) not in (None, ""):
                holder[path[-1]] = HIDDEN
        return json.dumps(config, indent=2)

    def config_keeping_secrets(self, name: str, submitted: str | None) -> str | None:
        """``submitted`` (an edited :meth:`shown_config`) with each secret still hidden put
        back from the stored value; a JSON object's text, else a ``ValidationError``."""
        if not submitted:
            return None
        config = _config(submitted)
        if config is None:
            raise ValidationError(
                "Enter a JSON object (better-auth's SSO configuration).", code="invalid"
            )
        stored = _config(getattr(self, name)) or {}
        for path in CONFIG_SECRETS[name]:
            holder, kept = _holder(config, path), _holder(stored, path)
            if holder is None or holder.get(path[-1]) != HIDDEN:
                continue
            if kept is not None and path[-1] in kept:
                holder[path[-1]] = kept[path[-1]]
            else:  # nothing stored to keep: the placeholder is no secret
                del holder[path[-1]]
        return json.dumps(config)


class ScimProviderQuerySet(ShowOnceQuerySet):
    def create_provider(self, provider_id: str, **fields: Any) -> tuple[ScimProvider, str]:
        """Create a provider; return it with its raw bearer token (stored as a digest)."""
        return self.create_with_secret(provider_id=provider_id, **fields)

    def get_by_token(self, raw: str) -> ScimProvider | None:
        return self.by_secret(raw).first()


class ScimProvider(TenantModel):
    """A SCIM client. ``scim_token`` holds the SHA-256 digest of its bearer token."""

    rls_mode = NULLABLE

    provider_id = models.TextField()
    scim_token = DigestField(help_text="SHA-256 digest (base64url) of the SCIM token.")

    objects = ScimProviderQuerySet.as_manager()

    class Meta:
        db_table = "scim_provider"
        verbose_name = "SCIM provider"
        verbose_name_plural = "SCIM providers"
        constraints = [
            models.UniqueConstraint(fields=["provider_id"], name="scim_provider_provider_id_key"),
            models.UniqueConstraint(fields=["scim_token"], name="scim_provider_scim_token_key"),
        ]

    def __str__(self) -> str:
        return self.provider_id

    def __repr__(self) -> str:
        return f"<ScimProvider {self.pk}>"
