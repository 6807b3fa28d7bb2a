"""Consent: one row per (client, user); a grant replaces the scopes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from beep_iam.models import OAuthConsent
from beep_iam.services.oauth_consent import consent_covers, grant_consent, revoke_consent
from beep_iam.services.oauth_errors import InvalidScope
from tests.factories import OAuthClientFactory, OAuthConsentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_grant_creates_then_replaces_the_scopes_of_one_row():
    client = OAuthClientFactory()
    user = UserFactory()
    first = grant_consent(client, user, ["openid", "email"])
    second = grant_consent(client, user, ["profile"])
    assert first.pk == second.pk
    consent = OAuthConsent.objects.get()
    assert consent.scopes == ["profile"]
    assert consent.version == 2  # updated in place, not re-inserted


def test_covers_checks_every_requested_scope():
    consent = OAuthConsentFactory(scopes=["openid", "email", "profile"])
    client, user = consent.client, consent.user
    assert consent_covers(client, user, ["openid"])
    assert consent_covers(client.client_id, user.pk, ["email", "openid"])
    assert consent_covers(client, user, [])
    assert not consent_covers(client, user, ["openid", "admin"])
    assert not consent_covers(client, UserFactory(), ["openid"])
    assert not consent_covers(OAuthClientFactory(), user, ["openid"])


def test_a_replaced_grant_no_longer_covers_dropped_scopes():
    consent = OAuthConsentFactory(scopes=["openid", "email"])
    grant_consent(consent.client, consent.user, ["openid"])
    assert not consent_covers(consent.client, consent.user, ["email"])


def test_grant_validates_scopes_against_the_client():
    client = OAuthClientFactory(scopes=["openid", "email"])
    user = UserFactory()
    with pytest.raises(InvalidScope, match="admin"):
        grant_consent(client, user, ["openid", "admin"])
    with pytest.raises(ValidationError):
        grant_consent(client, user, ["two words"])
    with pytest.raises(ValidationError):
        grant_consent(client, user, [])
    assert not OAuthConsent.objects.exists()


def test_revoke_consent():
    consent = OAuthConsentFactory()
    assert revoke_consent(consent.client, consent.user)
    assert not revoke_consent(consent.client, consent.user)
    assert not consent_covers(consent.client, consent.user, ["openid"])
