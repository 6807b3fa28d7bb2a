"""Factories of the global IAM tables (accounts, passkeys, device codes, keys...)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from beep_iam.models import (
    CREDENTIAL_PROVIDER,
    Account,
    DeviceCode,
    Jwks,
    Passkey,
    RateLimit,
    TwoFactor,
    Verification,
    WalletAddress,
)
from beep_iam.models.device_code import generate_user_code
from beep_shared import crypto

from .shared import UserFactory

__all__ = [
    "AccountFactory",
    "CredentialAccountFactory",
    "DeviceCodeFactory",
    "JwksFactory",
    "PasskeyFactory",
    "RateLimitFactory",
    "TwoFactorFactory",
    "VerificationFactory",
    "WalletAddressFactory",
]


def _in(delta: timedelta) -> factory.LazyFunction:
    return factory.LazyFunction(lambda: timezone.now() + delta)


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    """An OAuth provider account with provider tokens."""

    class Meta:
        model = Account

    user = factory.SubFactory(UserFactory)
    provider_id = "github"
    account_id = factory.Sequence(lambda n: f"gh-{n}")
    access_token = factory.LazyFunction(lambda: f"gho_{crypto.generate_token()}")
    refresh_token = factory.LazyFunction(lambda: f"ghr_{crypto.generate_token()}")
    access_token_expires_at = _in(timedelta(hours=1))
    scope = "read:user,user:email"


class CredentialAccountFactory(factory.django.DjangoModelFactory[Account]):
    """The email-and-password account of a user; ``raw_password`` is hashed on build."""

    class Meta:
        model = Account

    class Params:
        raw_password = "correct horse battery staple"

    user = factory.SubFactory(UserFactory)
    provider_id = CREDENTIAL_PROVIDER
    account_id = factory.LazyAttribute(lambda o: o.user.pk)
    password = factory.LazyAttribute(lambda o: make_password(o.raw_password))


class TwoFactorFactory(factory.django.DjangoModelFactory[TwoFactor]):
    class Meta:
        model = TwoFactor

    user = factory.SubFactory(UserFactory)
    secret = factory.LazyFunction(lambda: crypto.generate_token(20))
    backup_codes = factory.LazyFunction(
        lambda: ",".join(crypto.generate_token(6) for _ in range(10))
    )


class PasskeyFactory(factory.django.DjangoModelFactory[Passkey]):
    class Meta:
        model = Passkey

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Security key {n}")
    public_key = factory.LazyFunction(lambda: crypto.generate_token(64))
    credential_id = factory.LazyFunction(lambda: crypto.generate_token(16))
    counter = 0
    device_type = "singleDevice"
    transports = "usb,nfc"


class DeviceCodeFactory(factory.django.DjangoModelFactory[DeviceCode]):
    """A pending device authorization; pass ``raw_device_code=`` to know the polled code."""

    class Meta:
        model = DeviceCode

    class Params:
        raw_device_code = factory.LazyFunction(crypto.generate_token)

    device_code = factory.LazyAttribute(lambda o: crypto.digest(o.raw_device_code))
    user_code = factory.LazyFunction(generate_user_code)
    expires_at = _in(timedelta(minutes=30))
    polling_interval = 5000
    client_id = "tv-app"
    # An OAuth device code (oauthDeviceAuthorization()'s form); None: a first-party one.
    oauth_client_id = factory.SelfAttribute("client_id")
    scope = "openid profile"


class JwksFactory(factory.django.DjangoModelFactory[Jwks]):
    class Meta:
        model = Jwks

    public_key = factory.Sequence(lambda n: f'{{"kty":"OKP","crv":"Ed25519","kid":"k{n}","x":"x"}}')
    private_key = factory.LazyFunction(lambda: f'{{"d":"{crypto.generate_token()}"}}')


class RateLimitFactory(factory.django.DjangoModelFactory[RateLimit]):
    class Meta:
        model = RateLimit

    key = factory.Sequence(lambda n: f"203.0.113.{n % 250}/sign-in/email#{n}")
    count = 1
    last_request = factory.LazyFunction(lambda: int(timezone.now().timestamp() * 1000))


class VerificationFactory(factory.django.DjangoModelFactory[Verification]):
    class Meta:
        model = Verification

    identifier = factory.LazyFunction(lambda: f"reset-password:{crypto.generate_token()}")
    value = factory.LazyFunction(lambda: crypto.generate_token(12))
    expires_at = _in(timedelta(hours=1))


class WalletAddressFactory(factory.django.DjangoModelFactory[WalletAddress]):
    class Meta:
        model = WalletAddress

    user = factory.SubFactory(UserFactory)
    address = factory.Sequence(lambda n: f"0x{n:040x}")
    chain_id = 1
    is_primary = False
