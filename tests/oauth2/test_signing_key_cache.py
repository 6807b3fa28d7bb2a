"""The imported signing key is kept per row (benchmarks/oauth_http.py: decrypting and
importing it cost about 0.4 ms per ID token); the row is still read per token."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from beep_iam.models import Jwks
from beep_iam.oauth2 import keys

pytestmark = pytest.mark.django_db

SECRET = "s" * 40


@pytest.fixture
def co_tenancy(settings):
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": SECRET}):
        yield


def test_a_key_is_decrypted_once(co_tenancy, monkeypatch):
    row = keys.create_key()
    calls = []
    decrypt = keys.decrypt
    monkeypatch.setattr(keys, "decrypt", lambda *a: calls.append(1) or decrypt(*a))
    first, second = keys.signing_key(), keys.signing_key()
    assert first.kid == second.kid == row.pk
    assert first.key is second.key
    assert len(calls) <= 1  # none when an earlier test of this process imported the row


def test_rotation_signs_with_the_new_key_at_once(co_tenancy):
    old = keys.create_key()
    assert keys.signing_key().kid == old.pk
    new = keys.create_key(expire_current=True)
    current = keys.signing_key()
    assert current.kid == new.pk
    assert current.key.as_dict(private=False)["x"] == json.loads(new.public_key)["x"]


def test_a_replaced_private_key_is_not_served_from_the_cache(co_tenancy):
    row = keys.create_key()
    before = keys.signing_key()
    other = keys.create_key()
    # The same row id now holds another key (restored from a backup, say).
    Jwks.objects.filter(pk=row.pk).update(private_key=other.private_key)
    Jwks.objects.filter(pk=other.pk).delete()
    after = keys.signing_key()
    assert after.kid == row.pk
    assert after.key.as_dict(private=True)["d"] != before.key.as_dict(private=True)["d"]


def test_another_secret_does_not_reuse_a_key_decrypted_under_the_first(settings):
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": SECRET}):
        keys.create_key()
        keys.signing_key()
    with (
        override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": "t" * 40}),
        pytest.raises(ImproperlyConfigured, match="does not decrypt"),
    ):
        keys.signing_key()
