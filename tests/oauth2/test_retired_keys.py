"""A retired signing key (``expires_at`` set: ``rotate_signing_key``, the admin) stays
published for ``keys.GRACE_PERIOD`` so that the tokens it signed keep verifying, not so that
whoever holds it may sign new ones: a JWT access token or an ID token hint whose ``iat`` comes
after the key's end is refused, and an access token of a retired key expires within the
access token lifetime of that end. Security review 13."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from joserfc import jwt

from beep_iam.models import Jwks, OAuthClientResource
from beep_iam.oauth2 import access_jwt, keys
from beep_iam.oauth2.endpoint import issuer
from tests.factories import OAuthResourceFactory
from tests.oauth2.conftest import AFTER_LOGOUT as AFTER
from tests.oauth2.test_end_session import end, signed_in

pytestmark = pytest.mark.django_db

RESOURCE = "https://api.example.com/"
HOUR = 3600


@pytest.fixture
def retired():
    """The key that signed until a day ago, and its end (epoch seconds)."""
    old = keys.signing_key()
    keys.create_key(expire_current=True)
    ended = timezone.now() - timedelta(days=1)
    Jwks.objects.filter(pk=old.kid).update(expires_at=ended)
    access_jwt._forget_keys()
    return old, int(ended.timestamp())


def access_token(key: keys.SigningKey, web, user, *, iat: int, exp: int) -> str:
    OAuthResourceFactory(identifier=RESOURCE)
    OAuthClientResource.objects.create(client_id=web.client.client_id, resource_id=RESOURCE)
    claims: dict[str, Any] = {
        "iss": issuer(),
        "sub": str(user.pk),
        "aud": RESOURCE,
        "client_id": web.client.client_id,
        "scope": "openid",
        "iat": iat,
        "exp": exp,
        "jti": secrets.token_urlsafe(8),
    }
    header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg])


def test_signed_after_the_keys_end_is_refused(retired, web, user):
    key, _ = retired
    now = int(time.time())
    assert (
        access_jwt.validate(access_token(key, web, user, iat=now, exp=now + HOUR), RESOURCE) is None
    )


def test_backdated_to_live_past_the_keys_end_is_refused(retired, web, user):
    key, ended = retired
    token = access_token(key, web, user, iat=ended - 10, exp=int(time.time()) + HOUR)
    assert access_jwt.validate(token, RESOURCE) is None


def test_signed_before_the_end_still_verifies(web, user):
    key = keys.signing_key()
    now = int(time.time())
    token = access_token(key, web, user, iat=now - 60, exp=now + HOUR - 60)
    keys.create_key(expire_current=True)  # the rotation: the old key ends now
    access_jwt._forget_keys()
    assert access_jwt.validate(token, RESOURCE) is not None


def test_an_id_token_hint_signed_after_the_keys_end_is_refused(
    client,
    user,
    retired,
    logout_client,
):
    key, _ = retired
    now = int(time.time())
    claims = {"iss": issuer(), "sub": str(user.pk), "aud": logout_client.client.client_id}
    hint = jwt.encode(
        {"alg": key.alg, "kid": key.kid},
        {**claims, "iat": now, "exp": now + HOUR},
        key.key,
        algorithms=[key.alg],
    )
    client.force_login(user)
    response = end(client, id_token_hint=hint, post_logout_redirect_uri=AFTER)
    assert response.status_code == 400
    assert not response.has_header("Location")
    assert signed_in(client)
