from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

import factory
from django.db import models
from django.utils import timezone

from beep_shared import crypto
from beep_shared.models import Organization, Session, Team, User
from beep_shared.rls import tenant_context

M = TypeVar("M", bound=models.Model)

__all__ = [
    "OrganizationFactory",
    "SessionFactory",
    "TeamFactory",
    "TenantModelFactory",
    "UserFactory",
]


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    owner_user = factory.SubFactory(UserFactory)


class TenantModelFactory(factory.django.DjangoModelFactory[M]):
    """Base of TenantModel factories: rows are written as their own organization.

    Row level security only lets a transaction insert rows of its tenant, so ``_create``
    runs inside ``tenant_context`` of the row's organization (no tenant for a NULL one);
    tests need not think about tenants to create data. Reading it back still does.
    """

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with tenant_context(kwargs.get("organization")):
            return super()._create(model_class, *args, **kwargs)


class TeamFactory(TenantModelFactory[Team]):
    class Meta:
        model = Team

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class SessionFactory(factory.django.DjangoModelFactory[Session]):
    class Meta:
        model = Session

    user = factory.SubFactory(UserFactory)
    token = factory.LazyFunction(lambda: crypto.digest(crypto.generate_token()))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
