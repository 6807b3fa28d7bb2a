from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from beep_shared.db.choices import choices_check
from beep_shared.db.fields import ForeignKey
from beep_shared.models.base import Table


class OrganizationType(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    TEAM = "team", "Team"
    ENTERPRISE = "enterprise", "Enterprise"


class SubscriptionTier(models.TextChoices):
    FREE = "free", "Free"
    PLUS = "plus", "Plus"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELED = "canceled", "Canceled"


class Organization(Table):
    """A tenant. Every tenant-scoped row points at one; deleting it removes them all."""

    name = models.TextField()
    slug = models.SlugField(max_length=255)
    logo = models.TextField(null=True, blank=True)
    metadata = models.TextField(null=True, blank=True)
    type = models.TextField(
        choices=OrganizationType.choices,
        default=OrganizationType.INDIVIDUAL,
        db_default="individual",
    )
    # NULL until the owner's membership exists: better-auth creates the organization first,
    # then the owner's ``member`` row, whose trigger (member_sets_org_owner) fills this in.
    owner_user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="owned_organizations",
    )
    is_personal = models.BooleanField(default=False, db_default=False)
    max_members = models.IntegerField(null=True, blank=True)
    features = models.JSONField(null=True, blank=True)
    settings = models.JSONField(null=True, blank=True)
    subscription_tier = models.TextField(
        choices=SubscriptionTier.choices, default=SubscriptionTier.FREE, db_default="free"
    )
    subscription_status = models.TextField(
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
        db_default="active",
    )

    class Meta:
        db_table = "organization"
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="organization_slug_key"),
            choices_check("organization", "type", OrganizationType),
            choices_check("organization", "subscription_tier", SubscriptionTier),
            choices_check("organization", "subscription_status", SubscriptionStatus),
            models.CheckConstraint(
                condition=Q(max_members__isnull=True) | Q(max_members__gt=0),
                name="organization_max_members_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["name"], name="organization_name_idx"),
            models.Index(fields=["type"], name="organization_type_idx"),
            models.Index(fields=["owner_user"], name="organization_owner_user_id_idx"),
            models.Index(
                fields=["owner_user"],
                name="organization_personal_idx",
                condition=Q(is_personal=True),
            ),
            models.Index(
                fields=["subscription_tier", "subscription_status"],
                name="organization_subscription_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"
