"""Model behaviour of the global IAM tables: passwords, relations, expiry, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, identify_hasher
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from beep_iam.models import Account, Jwks, RateLimit, Verification
from tests.factories import (
    AccountFactory,
    CredentialAccountFactory,
    JwksFactory,
    PasskeyFactory,
    RateLimitFactory,
    TwoFactorFactory,
    UserFactory,
    VerificationFactory,
    WalletAddressFactory,
)

pytestmark = pytest.mark.django_db


class LegacyHasher(MD5PasswordHasher):
    """Stands for an older algorithm whose hashes get upgraded on the next login."""

    algorithm = "legacy_md5"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "tests.iam.test_iam_models.LegacyHasher",
    ]


class TestAccountPassword:
    def test_password_is_stored_as_a_django_hash(self):
        account = CredentialAccountFactory.create(raw_password="s3cret-words")
        with connection.cursor() as cursor:
            cursor.execute("SELECT password FROM account WHERE id = %s", [account.pk])
            stored = cursor.fetchone()[0]
        assert "s3cret-words" not in stored
        assert identify_hasher(stored).algorithm == "md5"
        assert account.account_id == account.user_id
        assert account.check_password("s3cret-words")
        assert not account.check_password("S3cret-words")

    def test_an_outdated_hash_is_upgraded_on_a_successful_check(self):
        account = CredentialAccountFactory.create(
            password=LegacyHasher().encode("pw", LegacyHasher().salt())
        )
        assert not account.check_password("wrong")
        assert str(Account.objects.get(pk=account.pk).password).startswith("legacy_md5$")
        assert account.check_password("pw")
        assert str(Account.objects.get(pk=account.pk).password).startswith("md5$")

    def test_no_password_means_no_credential(self):
        account = AccountFactory.create()
        assert account.password is None
        assert not account.has_usable_password()
        assert not account.check_password("")
        account.set_password("pw")
        assert account.has_usable_password()
        account.set_password(None)
        assert account.password is None

    def test_stored_secrets_names_only_the_columns_set(self):
        assert AccountFactory.create(id_token=None).stored_secrets == [
            "access_token",
            "refresh_token",
        ]
        assert CredentialAccountFactory.create().stored_secrets == ["password"]


def test_relations_read_from_the_user_side():
    user = UserFactory.create(password=None)
    account = AccountFactory.create(user=user)
    passkey = PasskeyFactory.create(user=user)
    wallet = WalletAddressFactory.create(user=user)
    two_factor = TwoFactorFactory.create(user=user)
    assert list(user.accounts.all()) == [account]
    assert list(user.passkeys.all()) == [passkey]
    assert list(user.wallet_addresses.all()) == [wallet]
    assert list(user.two_factors.all()) == [two_factor]


def test_verification_expired_returns_the_rows_to_purge():
    now = timezone.now()
    old = VerificationFactory.create(expires_at=now - timedelta(seconds=1))
    edge = VerificationFactory.create(expires_at=now)
    live = VerificationFactory.create(expires_at=now + timedelta(seconds=1))
    assert set(Verification.objects.expired(now=now)) == {old, edge}
    assert set(Verification.objects.unexpired(now=now)) == {live}
    assert old in Verification.objects.expired()  # default: the current time


def test_jwks_active_and_expired_split_on_expiry():
    now = timezone.now()
    forever = JwksFactory.create(expires_at=None)
    retired = JwksFactory.create(expires_at=now - timedelta(days=1))
    current = JwksFactory.create(expires_at=now + timedelta(days=1))
    assert set(Jwks.objects.unexpired(now=now)) == {forever, current}
    assert set(Jwks.objects.expired(now=now)) == {retired}


def test_rate_limit_last_request_reads_as_a_datetime():
    row = RateLimitFactory.create(last_request=1_700_000_000_123)
    assert row.last_request_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert RateLimit(key="k").last_request_at is None


def test_verification_hint_never_carries_the_token():
    assert VerificationFactory.build(identifier="reset-password:tok123").identifier_hint == (
        "reset-password:…"
    )
    hint = VerificationFactory.build(identifier="magiclinktoken0123456789").identifier_hint
    assert hint == "…"  # the identifier may be the token itself: not even its first characters


@pytest.mark.parametrize(
    ("factory", "values", "field", "rule"),
    [
        (PasskeyFactory, {"counter": -1}, "__all__", "counter must be 0 or more"),
        (WalletAddressFactory, {"chain_id": 0}, "__all__", "chain_id must be more than 0"),
        (RateLimitFactory, {"count": -3}, "__all__", "count must be 0 or more"),
        (RateLimitFactory, {"last_request": -1}, "__all__", "Unix time in milliseconds"),
    ],
)
def test_model_validation_states_the_rule(factory, values, field, rule):
    if "user" in {f.name for f in factory._meta.model._meta.fields}:
        values = {"user": UserFactory.create(password=None), **values}
    with pytest.raises(ValidationError) as excinfo:
        factory.build(**values).full_clean()
    assert rule in " ".join(excinfo.value.message_dict[field])


def test_second_primary_wallet_is_refused_by_validation():
    user = UserFactory.create(password=None)
    WalletAddressFactory.create(user=user, is_primary=True)
    second = WalletAddressFactory.build(user=user, is_primary=True, address="0xdef")
    with pytest.raises(ValidationError, match="only one primary wallet"):
        second.full_clean()
