"""Issuing, validating, rotating, revoking and introspecting tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken
from beep_iam.services import oauth_tokens
from beep_iam.services.oauth_errors import (
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    RefreshTokenReused,
    UnauthorizedClient,
)
from beep_iam.services.oauth_tokens import ANY_CLIENT
from beep_shared import crypto
from tests.factories import (
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthRefreshTokenFactory,
    SessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _issue(**kwargs):
    client = kwargs.pop("client", None) or OAuthClientFactory()
    user = kwargs.pop("user", None) or UserFactory()
    kwargs.setdefault("scopes", ["openid", "email"])
    kwargs.setdefault("with_refresh", True)
    return oauth_tokens.issue_tokens(client, user=user, **kwargs)


def _live(model, **filters):
    return model.objects.filter(revoked__isnull=True, **filters)


# --- issuing -------------------------------------------------------------------------------


def test_issue_stores_only_digests_and_uses_default_lifetimes():
    session = SessionFactory()
    before = timezone.now()
    issued = _issue(user=session.user, session=session)
    access = OAuthAccessToken.objects.get(pk=issued.access.pk)
    refresh = OAuthRefreshToken.objects.get(pk=issued.refresh.pk)
    assert access.token == crypto.digest(issued.access_token) != issued.access_token
    assert refresh.token == crypto.digest(issued.refresh_token) != issued.refresh_token
    assert issued.access_token not in repr(issued)
    assert issued.refresh_token not in repr(issued)
    assert access.oauth_refresh_token == refresh
    assert access.session == session and refresh.session == session
    assert access.scopes == refresh.scopes == ["openid", "email"]
    assert issued.expires_in == 3600
    assert access.expires_at is not None and refresh.expires_at is not None
    assert timedelta(hours=1) <= access.expires_at - before < timedelta(hours=1, seconds=5)
    assert timedelta(days=30) <= refresh.expires_at - before < timedelta(days=30, seconds=5)


def test_lifetimes_come_from_settings(settings):
    settings.BEEP_IAM = {"ACCESS_TOKEN_LIFETIME": 300, "REFRESH_TOKEN_LIFETIME": timedelta(days=2)}
    before = timezone.now()
    issued = _issue()
    assert issued.expires_in == 300
    assert timedelta(seconds=300) <= issued.access.expires_at - before < timedelta(seconds=305)
    assert timedelta(days=2) <= issued.refresh.expires_at - before < timedelta(days=2, seconds=5)


def test_access_token_only_issue_and_client_credentials_without_user():
    client = OAuthClientFactory(grant_types=["client_credentials"])
    issued = oauth_tokens.issue_tokens(client, scopes=["api"])
    assert issued.refresh_token is None and issued.refresh is None
    info = oauth_tokens.validate_access_token(issued.access_token)
    assert info is not None and info.user_id is None


def test_issue_refuses_disabled_clients_foreign_scopes_and_userless_refresh():
    with pytest.raises(InvalidClient):
        _issue(client=OAuthClientFactory(disabled=True))
    with pytest.raises(InvalidScope, match="admin"):
        _issue(client=OAuthClientFactory(scopes=["openid"]), scopes=["openid", "admin"])
    with pytest.raises(InvalidGrant, match="user"):
        oauth_tokens.issue_tokens(OAuthClientFactory(), scopes=["openid"], with_refresh=True)
    with pytest.raises(UnauthorizedClient, match="refresh_token"):
        _issue(client=OAuthClientFactory(grant_types=["authorization_code"]))
    assert not OAuthAccessToken.objects.exists()


# --- validating ----------------------------------------------------------------------------


def test_validate_returns_the_token_in_one_query():
    issued = _issue()
    with CaptureQueriesContext(connection) as queries:
        info = oauth_tokens.validate_access_token(issued.access_token)
    assert len(queries) == 1
    assert "JOIN oauth_client" in queries[0]["sql"]
    assert info is not None
    assert info.id == issued.access.pk
    assert info.client_id == issued.access.client_id
    assert info.user_id == issued.access.user_id
    assert info.scopes == ["openid", "email"]
    assert info.expires_at == OAuthAccessToken.objects.get(pk=issued.access.pk).expires_at


def test_validate_rejects_unknown_expired_revoked_and_disabled_client_tokens():
    assert oauth_tokens.validate_access_token("no-such-token") is None
    assert oauth_tokens.validate_access_token("") is None
    expired = OAuthAccessTokenFactory(
        raw_token="expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert oauth_tokens.validate_access_token("expired") is None
    OAuthAccessTokenFactory(raw_token="revoked", revoked=timezone.now())
    assert oauth_tokens.validate_access_token("revoked") is None
    OAuthAccessTokenFactory(raw_token="disabled", client=OAuthClientFactory(disabled=True))
    assert oauth_tokens.validate_access_token("disabled") is None
    OAuthAccessTokenFactory(raw_token="forever", expires_at=None)
    assert oauth_tokens.validate_access_token("forever") is not None
    # The digest, not the stored value, is what a presented token is compared with.
    assert oauth_tokens.validate_access_token(expired.token) is None


def test_validate_accepts_rows_written_by_better_auth():
    client: OAuthClient = OAuthClientFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO oauth_access_token (token, client_id, scopes, expires_at) "
            "VALUES (%s, %s, ARRAY['openid'], now() + interval '1 hour')",
            [crypto.digest("from-better-auth"), client.client_id],
        )
    info = oauth_tokens.validate_access_token("from-better-auth")
    assert info is not None and info.client_id == client.client_id


def test_validate_works_with_prepared_lookups_disabled(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": False}
    issued = _issue()
    assert oauth_tokens.validate_access_token(issued.access_token) is not None
    assert oauth_tokens.validate_access_token("nope") is None


def test_prepared_lookup_is_a_server_side_prepared_statement(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    issued = _issue()
    for _ in range(2):
        assert oauth_tokens.validate_access_token(issued.access_token) is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%FROM oauth_access_token t%"],
        )
        assert cursor.fetchone()[0] == 1
        # Django's own queries stay unprepared.
        assert connection.connection.prepare_threshold is None


# --- rotating ------------------------------------------------------------------------------


def test_rotation_revokes_the_old_refresh_token_and_issues_a_new_pair():
    first = _issue()
    second = oauth_tokens.rotate_refresh_token(
        first.refresh_token, client_id=first.refresh.client_id
    )
    old = OAuthRefreshToken.objects.get(pk=first.refresh.pk)
    assert old.revoked is not None and old.rotated_at is not None
    assert second.refresh_token != first.refresh_token
    new = OAuthRefreshToken.objects.get(pk=second.refresh.pk)
    assert new.revoked is None
    assert (new.client_id, new.user_id, new.scopes) == (old.client_id, old.user_id, old.scopes)
    assert oauth_tokens.validate_access_token(second.access_token) is not None
    # Access tokens minted earlier live on until they expire.
    assert oauth_tokens.validate_access_token(first.access_token) is not None


def test_presenting_a_rotated_token_again_revokes_the_whole_family():
    user = UserFactory()
    client = OAuthClientFactory()
    first = _issue(client=client, user=user)
    second = oauth_tokens.rotate_refresh_token(first.refresh_token, client_id=ANY_CLIENT)
    parallel = _issue(client=client, user=user)  # another grant of the same client and user
    bystander = _issue(client=client)  # another user
    with pytest.raises(RefreshTokenReused):
        oauth_tokens.rotate_refresh_token(first.refresh_token, client_id=ANY_CLIENT)
    family = {"client_id": client.client_id, "user_id": user.pk}
    assert not _live(OAuthRefreshToken, **family).exists()
    assert not _live(OAuthAccessToken, **family).exists()
    for issued in (first, second, parallel):
        assert oauth_tokens.validate_access_token(issued.access_token) is None
    assert oauth_tokens.validate_access_token(bystander.access_token) is not None
    with pytest.raises(RefreshTokenReused):
        oauth_tokens.rotate_refresh_token(second.refresh_token, client_id=ANY_CLIENT)


def test_presenting_a_revoked_token_is_reuse_too():
    issued = _issue()
    oauth_tokens.revoke_token(issued.refresh_token, client_id=ANY_CLIENT)
    other = oauth_tokens.issue_tokens(
        issued.access.client, user=issued.access.user, scopes=["openid"], with_refresh=True
    )
    with pytest.raises(RefreshTokenReused):
        oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)
    assert oauth_tokens.validate_access_token(other.access_token) is None


def test_rotation_errors_are_domain_errors_and_change_nothing():
    with pytest.raises(InvalidGrant, match="unknown"):
        oauth_tokens.rotate_refresh_token("never-issued", client_id=ANY_CLIENT)
    expired = OAuthRefreshTokenFactory(
        raw_token="expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvalidGrant, match="expired"):
        oauth_tokens.rotate_refresh_token("expired", client_id=ANY_CLIENT)
    expired.refresh_from_db()
    assert expired.revoked is None
    OAuthRefreshTokenFactory(raw_token="disabled", client=OAuthClientFactory(disabled=True))
    with pytest.raises(InvalidClient):
        oauth_tokens.rotate_refresh_token("disabled", client_id=ANY_CLIENT)
    mine = OAuthRefreshTokenFactory(raw_token="mine")
    with pytest.raises(InvalidGrant, match="another client"):
        oauth_tokens.rotate_refresh_token("mine", client_id="someone-else")
    mine.refresh_from_db()
    assert mine.revoked is None
    assert OAuthRefreshToken.objects.count() == 3


def test_rotation_can_narrow_but_not_widen_scopes():
    issued = _issue(scopes=["openid", "email", "profile"])
    narrowed = oauth_tokens.rotate_refresh_token(
        issued.refresh_token, scopes=["email"], client_id=ANY_CLIENT
    )
    assert narrowed.access.scopes == ["email"]
    assert narrowed.refresh.scopes == ["openid", "email", "profile"]
    with pytest.raises(InvalidScope, match="admin"):
        oauth_tokens.rotate_refresh_token(
            narrowed.refresh_token, scopes=["email", "admin"], client_id=ANY_CLIENT
        )
    # A refused request does not consume the token.
    assert oauth_tokens.rotate_refresh_token(
        narrowed.refresh_token, client_id=ANY_CLIENT
    ).access.scopes == [
        "openid",
        "email",
        "profile",
    ]


# --- revoking ------------------------------------------------------------------------------


def test_revoking_a_refresh_token_revokes_the_access_tokens_it_minted():
    issued = _issue()
    unrelated = _issue(client=issued.access.client, user=issued.access.user)
    assert oauth_tokens.revoke_token(
        issued.refresh_token, token_type_hint="refresh_token", client_id=ANY_CLIENT
    )
    assert oauth_tokens.validate_access_token(issued.access_token) is None
    assert OAuthRefreshToken.objects.get(pk=issued.refresh.pk).revoked is not None
    assert oauth_tokens.validate_access_token(unrelated.access_token) is not None


def test_revoking_an_access_token_leaves_its_refresh_token():
    issued = _issue()
    assert oauth_tokens.revoke_token(
        issued.access_token, token_type_hint="refresh_token", client_id=ANY_CLIENT
    )
    assert oauth_tokens.validate_access_token(issued.access_token) is None
    assert OAuthRefreshToken.objects.get(pk=issued.refresh.pk).revoked is None


def test_revocation_is_idempotent_and_unknown_tokens_are_not_an_error():
    issued = _issue()
    assert oauth_tokens.revoke_token(
        issued.access_token, token_type_hint="access_token", client_id=ANY_CLIENT
    )
    first = OAuthAccessToken.objects.get(pk=issued.access.pk).revoked
    assert oauth_tokens.revoke_token(
        issued.access_token, token_type_hint="bogus_hint", client_id=ANY_CLIENT
    )
    assert OAuthAccessToken.objects.get(pk=issued.access.pk).revoked == first
    assert oauth_tokens.revoke_token("never-issued", client_id=ANY_CLIENT) is False


def test_a_client_cannot_revoke_another_clients_token():
    issued = _issue()
    with pytest.raises(UnauthorizedClient):
        oauth_tokens.revoke_token(issued.access_token, client_id="other-client")
    assert oauth_tokens.validate_access_token(issued.access_token) is not None
    assert oauth_tokens.revoke_token(issued.access_token, client_id=issued.access.client_id)


def test_revoke_with_access_tokens_reads_the_selection_before_changing_it():
    issued = [_issue() for _ in range(3)]
    selection = OAuthRefreshToken.objects.filter(
        pk__in=[i.refresh.pk for i in issued[:2]], revoked__isnull=True
    )
    assert selection.revoke_with_access_tokens() == (2, 2)
    assert [oauth_tokens.validate_access_token(i.access_token) is None for i in issued] == [
        True,
        True,
        False,
    ]


def test_revoke_client_tokens():
    issued = _issue()
    other = _issue()
    assert oauth_tokens.revoke_client_tokens([issued.access.client_id]) == (1, 1)
    assert oauth_tokens.validate_access_token(issued.access_token) is None
    assert oauth_tokens.validate_access_token(other.access_token) is not None


# --- introspecting -------------------------------------------------------------------------


def test_introspection_of_an_active_access_token_is_rfc7662_shaped():
    issued = _issue()
    access = OAuthAccessToken.objects.get(pk=issued.access.pk)
    claims = oauth_tokens.introspect(issued.access_token)
    assert claims == {
        "active": True,
        "scope": "openid email",
        "client_id": access.client_id,
        "sub": access.user_id,
        "exp": int(access.expires_at.timestamp()),
        "iat": int(access.created_at.timestamp()),
        "token_type": "Bearer",
    }


def test_introspection_of_refresh_tokens_and_inactive_tokens():
    issued = _issue()
    claims = oauth_tokens.introspect(issued.refresh_token, token_type_hint="refresh_token")
    assert claims["active"] is True
    assert claims["token_type"] == "refresh_token"
    assert claims["sub"] == issued.refresh.user_id
    oauth_tokens.revoke_token(issued.refresh_token, client_id=ANY_CLIENT)
    assert oauth_tokens.introspect(issued.refresh_token) == {"active": False}
    assert oauth_tokens.introspect(issued.access_token) == {"active": False}
    assert oauth_tokens.introspect("never-issued") == {"active": False}
    assert oauth_tokens.introspect("") == {"active": False}


def test_introspection_omits_sub_and_exp_when_absent():
    OAuthAccessTokenFactory(raw_token="machine", user=None, expires_at=None, scopes=["api"])
    claims = oauth_tokens.introspect("machine")
    assert claims["active"] is True and claims["scope"] == "api"
    assert "sub" not in claims and "exp" not in claims
