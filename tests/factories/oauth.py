"""Factories for the OAuth provider tables.

Token factories take the raw token as a parameter and store its digest, so a test that
needs the raw value passes it: ``OAuthAccessTokenFactory(raw_token="abc")``.
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from beep_iam.models import (
    OAuthAccessToken,
    OAuthClient,
    OAuthClientAssertion,
    OAuthClientResource,
    OAuthConsent,
    OAuthRefreshToken,
    OAuthResource,
)
from beep_shared import crypto

from .shared import UserFactory

__all__ = [
    "OAuthAccessTokenFactory",
    "OAuthClientAssertionFactory",
    "OAuthClientFactory",
    "OAuthClientResourceFactory",
    "OAuthConsentFactory",
    "OAuthRefreshTokenFactory",
    "OAuthResourceFactory",
]

DEFAULT_CLIENT_SECRET = "factory-client-secret"


class _TokenOwnerFactory(UserFactory):
    """A user without a password: tokens never need one, and hashing it is slow."""

    password = "!"  # Django's unusable-password marker


class OAuthClientFactory(factory.django.DjangoModelFactory):
    """A confidential client whose raw secret is ``raw_secret`` (a public one with
    ``public=True``)."""

    class Meta:
        model = OAuthClient

    class Params:
        raw_secret = DEFAULT_CLIENT_SECRET
        public_client = factory.Trait(
            public=True, token_endpoint_auth_method="none", client_secret=None
        )

    client_id = factory.Sequence(lambda n: f"client-{n}-{crypto.generate_token(6)}")
    client_secret = factory.LazyAttribute(lambda o: crypto.digest(o.raw_secret))
    name = factory.Sequence(lambda n: f"Client {n}")
    redirect_uris = factory.LazyFunction(lambda: ["https://client.example.com/callback"])
    token_endpoint_auth_method = "client_secret_basic"
    grant_types = factory.LazyFunction(lambda: ["authorization_code", "refresh_token"])
    response_types = factory.LazyFunction(lambda: ["code"])
    public = False


class OAuthRefreshTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthRefreshToken

    class Params:
        raw_token = factory.LazyFunction(crypto.generate_token)

    token = factory.LazyAttribute(lambda o: crypto.digest(o.raw_token))
    client = factory.SubFactory(OAuthClientFactory)
    user = factory.SubFactory(_TokenOwnerFactory)
    scopes = factory.LazyFunction(lambda: ["openid", "offline_access"])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class OAuthAccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthAccessToken

    class Params:
        raw_token = factory.LazyFunction(crypto.generate_token)

    token = factory.LazyAttribute(lambda o: crypto.digest(o.raw_token))
    client = factory.SubFactory(OAuthClientFactory)
    user = factory.SubFactory(_TokenOwnerFactory)
    scopes = factory.LazyFunction(lambda: ["openid"])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))


class OAuthConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthConsent

    client = factory.SubFactory(OAuthClientFactory)
    user = factory.SubFactory(_TokenOwnerFactory)
    scopes = factory.LazyFunction(lambda: ["openid", "email"])


class OAuthResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthResource

    identifier = factory.Sequence(lambda n: f"https://api{n}.example.com/")
    name = factory.Sequence(lambda n: f"API {n}")


class OAuthClientResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthClientResource

    client = factory.SubFactory(OAuthClientFactory)
    resource = factory.SubFactory(OAuthResourceFactory)


class OAuthClientAssertionFactory(factory.django.DjangoModelFactory):
    """better-auth writes the id: a base64url digest of the assertion's jti."""

    class Meta:
        model = OAuthClientAssertion

    id = factory.LazyFunction(lambda: crypto.digest(crypto.generate_token())[:32])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))
