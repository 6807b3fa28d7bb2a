"""purge_expired_tokens and the batched purge helper."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from beep_iam.maintenance.purge import PurgeRegistry, PurgeTarget, count, purge, registry
from beep_iam.models import OAuthAccessToken, OAuthConsent, OAuthRefreshToken
from tests.factories import (
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthConsentFactory,
    OAuthRefreshTokenFactory,
)

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("purge_expired_tokens", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def tokens():
    """One row of every kind the purge must tell apart."""
    now = timezone.now()
    client = OAuthClientFactory()
    rows = {
        "access_live": OAuthAccessTokenFactory(client=client),
        "access_forever": OAuthAccessTokenFactory(client=client, expires_at=None),
        "access_expired": OAuthAccessTokenFactory(
            client=client, expires_at=now - timedelta(minutes=1)
        ),
        "access_revoked_recently": OAuthAccessTokenFactory(
            client=client, revoked=now - timedelta(days=1)
        ),
        "access_revoked_long_ago": OAuthAccessTokenFactory(
            client=client, revoked=now - timedelta(days=8), expires_at=None
        ),
        "refresh_live": OAuthRefreshTokenFactory(client=client),
        "refresh_expired": OAuthRefreshTokenFactory(
            client=client, expires_at=now - timedelta(days=1)
        ),
        "refresh_revoked_long_ago": OAuthRefreshTokenFactory(
            client=client, revoked=now - timedelta(days=10)
        ),
        "refresh_revoked_recently": OAuthRefreshTokenFactory(
            client=client, revoked=now - timedelta(hours=1)
        ),
    }
    # An expired refresh token whose access token is still live: deleting it would cascade
    # to that access token, so it stays until the access token expires.
    rows["refresh_expired_with_live_access"] = OAuthRefreshTokenFactory(
        client=client, expires_at=now - timedelta(minutes=5)
    )
    rows["access_live_from_expired_refresh"] = OAuthAccessTokenFactory(
        client=client, oauth_refresh_token=rows["refresh_expired_with_live_access"]
    )
    return rows


PURGED = {
    "access_expired",
    "access_revoked_long_ago",
    "refresh_expired",
    "refresh_revoked_long_ago",
}


def _remaining(rows) -> set[str]:
    return {name for name, row in rows.items() if type(row).objects.filter(pk=row.pk).exists()}


def test_purge_deletes_expired_and_long_revoked_rows_only(tokens):
    out, err = _run()
    assert _remaining(tokens) == set(tokens) - PURGED
    assert "Deleted 4 rows." in out
    assert "oauth_access_token.expired: deleted 1 rows" in out
    assert "100%" in err  # the progress bar goes to stderr


def test_dry_run_counts_and_changes_nothing(tokens):
    out, _ = _run("--dry-run")
    assert _remaining(tokens) == set(tokens)
    assert "oauth_access_token.expired: 1 rows would be deleted" in out
    assert "oauth_refresh_token.revoked: 1 rows would be deleted" in out
    assert "Dry run: 4 rows would be deleted" in out


def test_retention_setting_controls_what_long_revoked_means(tokens, settings):
    settings.BEEP_IAM = {"REVOKED_TOKEN_RETENTION": timedelta(hours=12)}
    _run()
    assert _remaining(tokens) == set(tokens) - PURGED - {"access_revoked_recently"}


def test_targets_can_be_selected(tokens):
    _run("--target", "oauth_refresh_token.expired")
    assert _remaining(tokens) == set(tokens) - {"refresh_expired"}


def test_small_batches_delete_everything_in_several_transactions():
    client = OAuthClientFactory()
    past = timezone.now() - timedelta(hours=2)
    OAuthAccessTokenFactory.create_batch(7, client=client, expires_at=past)
    OAuthAccessTokenFactory.create_batch(3, client=client)
    target = registry.select(["oauth_access_token.expired"])[0]
    seen: list[int] = []
    result = purge(target, now=timezone.now(), batch_size=2, progress=seen.append)
    assert result.deleted == 7
    assert result.batches == 4
    assert seen == [2, 4, 6, 7]
    assert OAuthAccessToken.objects.count() == 3


def test_rows_sharing_one_key_value_are_all_deleted():
    client = OAuthClientFactory()
    same = timezone.now() - timedelta(hours=1)
    OAuthAccessTokenFactory.create_batch(5, client=client, expires_at=same)
    target = registry.select(["oauth_access_token.expired"])[0]
    assert purge(target, now=timezone.now(), batch_size=2).deleted == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch-size", "0"), "--batch-size must be between 1"),
        (("--batch-size", "5000000"), "--batch-size must be between 1"),
        (("--target", "nope"), r"unknown purge target\(s\) 'nope'"),
        (("--target", ""), r"unknown purge target\(s\) ''"),
        (("--database", "elsewhere"), "Unknown database alias"),
    ],
)
def test_bad_options_raise_command_errors(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_other_tables_can_be_purged_with_their_own_condition():
    keep = OAuthConsentFactory(reference_id="keep")
    OAuthConsentFactory.create_batch(3, reference_id="purge-me")
    target = PurgeTarget(
        name="oauth_consent.marked",
        rows=lambda now: OAuthConsent.objects.filter(reference_id="purge-me", created_at__lte=now),
        key="created_at",
    )
    local = PurgeRegistry()
    local.register(target)
    assert local.select(None) == [target]
    now = timezone.now()
    assert count(target, now=now) == 3
    assert purge(target, now=now, batch_size=2).deleted == 3
    assert list(OAuthConsent.objects.all()) == [keep]
    with pytest.raises(ValueError, match="different purge target"):
        local.register(
            PurgeTarget(name="oauth_consent.marked", rows=OAuthConsent.objects.all, key="y")
        )


def test_registered_targets_run_in_order():
    assert registry.names()[:4] == [
        "oauth_access_token.expired",
        "oauth_access_token.revoked",
        "oauth_refresh_token.expired",
        "oauth_refresh_token.revoked",
    ]
    assert OAuthRefreshToken.objects.count() == 0


def test_expired_verifications_and_device_codes_are_purged_too():
    from beep_iam.models import DeviceCode, Verification
    from tests.factories import DeviceCodeFactory, VerificationFactory

    live_verification = VerificationFactory()
    live_code = DeviceCodeFactory()
    dead = [VerificationFactory(), DeviceCodeFactory(), DeviceCodeFactory()]
    for row in dead:
        # created_at moves back too, so the rows stay valid for any created/expiry checks.
        type(row).objects.filter(pk=row.pk).update(
            created_at=timezone.now() - timedelta(days=2),
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert Verification.objects.expired().count() == 1
    assert DeviceCode.objects.expired().count() == 2

    out, err = _run("--target", "verification.expired", "--target", "device_code.expired")

    assert list(Verification.objects.all()) == [live_verification]
    assert list(DeviceCode.objects.all()) == [live_code]
    assert "3" in out + err
