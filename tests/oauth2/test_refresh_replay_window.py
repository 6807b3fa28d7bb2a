"""BEEP_IAM["REFRESH_TOKEN_REPLAY_WINDOW"]: off by default (a replay revokes the family at
once); on, a replay soon after the rotation is refused without revoking anything, a later
one revokes the family as before, and a token revoked for another reason never gets the
window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.test import override_settings

from beep_iam.conf import load
from beep_iam.models import OAuthRefreshToken
from beep_iam.services import oauth_tokens
from beep_iam.services.oauth_errors import InvalidGrant, RefreshTokenReused
from beep_iam.services.oauth_tokens import ANY_CLIENT, validate_access_token
from tests.oauth2.conftest import get_code, pkce
from tests.oauth2.test_code_flow import exchange, refresh, signed_in  # noqa: F401

pytestmark = pytest.mark.django_db


def window(seconds: int):
    return override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "REFRESH_TOKEN_REPLAY_WINDOW": seconds}
    )


def _tokens(signed_in, web):  # noqa: F811
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    first = exchange(signed_in, web, code, verifier).json()
    second = refresh(signed_in, web, first["refresh_token"])
    assert second.status_code == 200, second.content
    return first, second.json()


def test_off_by_default_a_replay_revokes_the_family(signed_in, web):  # noqa: F811
    assert load({}).refresh_token_replay_window == timedelta(0)
    first, second = _tokens(signed_in, web)
    replay = refresh(signed_in, web, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert validate_access_token(second["access_token"]) is None
    assert not OAuthRefreshToken.objects.filter(revoked__isnull=True).exists()


def test_within_the_window_a_clean_refusal(signed_in, web):  # noqa: F811
    with window(30):
        first, second = _tokens(signed_in, web)
        replay = refresh(signed_in, web, first["refresh_token"])
        assert replay.status_code == 400
        assert replay.json() == {
            "error": "invalid_grant",
            "error_description": "refresh token was already rotated; use the new one",
        }
        # The family lives on: the winner's pair still works.
        assert validate_access_token(second["access_token"]) is not None
        third = refresh(signed_in, web, second["refresh_token"])
        assert third.status_code == 200, third.content


def test_after_the_window_a_replay_revokes_the_family(signed_in, web):  # noqa: F811
    with window(30):
        first, second = _tokens(signed_in, web)
        rotated = OAuthRefreshToken.objects.filter(rotated_at__isnull=False)
        assert rotated.update(rotated_at=F("rotated_at") - timedelta(seconds=31)) == 1
        replay = refresh(signed_in, web, first["refresh_token"])
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert validate_access_token(second["access_token"]) is None
        assert not OAuthRefreshToken.objects.filter(revoked__isnull=True).exists()


def test_a_revoked_token_gets_no_window(web, user):
    issued = oauth_tokens.issue_tokens(
        web.client, user=user, scopes=["openid", "offline_access"], with_refresh=True
    )
    other = oauth_tokens.issue_tokens(
        web.client, user=user, scopes=["openid", "offline_access"], with_refresh=True
    )
    with window(30):
        oauth_tokens.revoke_token(issued.refresh_token, client_id=ANY_CLIENT)
        with pytest.raises(RefreshTokenReused):
            oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)
    assert validate_access_token(other.access_token) is None


def test_the_service_refuses_without_revoking(web, user):
    issued = oauth_tokens.issue_tokens(
        web.client, user=user, scopes=["openid", "offline_access"], with_refresh=True
    )
    with window(5):
        new = oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)
        with pytest.raises(InvalidGrant) as raised:
            oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)
        assert not isinstance(raised.value, RefreshTokenReused)
    assert validate_access_token(new.access_token) is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [(61, "at most 60 seconds"), (-1, "zero or more"), ("5", "timedelta or a whole number")],
)
def test_the_setting_is_validated(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load({"REFRESH_TOKEN_REPLAY_WINDOW": value})
    assert load({"REFRESH_TOKEN_REPLAY_WINDOW": 60}).refresh_token_replay_window == timedelta(
        seconds=60
    )
