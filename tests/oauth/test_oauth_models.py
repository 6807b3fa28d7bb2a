"""Schema of the OAuth tables: columns, constraints, indexes, referential actions."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthConsent, OAuthRefreshToken
from beep_shared import crypto
from beep_shared.ids import is_valid_id
from tests.factories import (
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthConsentFactory,
    OAuthRefreshTokenFactory,
    SessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _indexes(table: str) -> dict[str, str]:
    return dict(_fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table]))


def _fk_actions(table: str) -> dict[str, tuple[str, str, str]]:
    """column -> (referenced table, referenced column, ON DELETE action code)."""
    rows = _fetch(
        """
        SELECT a.attname, rt.relname, ra.attname, c.confdeltype
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_class rt ON rt.oid = c.confrelid
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND t.relname = %s
        """,
        [table],
    )
    return {col: (rtable, rcol, action) for col, rtable, rcol, action in rows}


def test_tables_have_the_reference_names_and_columns():
    columns = dict(
        _fetch(
            "SELECT table_name, array_agg(column_name::text) FROM information_schema.columns "
            "WHERE table_name LIKE 'oauth_%%' GROUP BY table_name"
        )
    )
    assert set(columns) == {
        "oauth_client",
        "oauth_access_token",
        "oauth_refresh_token",
        "oauth_consent",
        # better-auth 1.7
        "oauth_resource",
        "oauth_client_resource",
        "oauth_client_assertion",
    }
    assert {
        "client_id",
        "client_secret",
        "disabled",
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "response_types",
        "require_pkce",
        "jwks_uri",
        "dpop_bound_access_tokens",
    } <= set(columns["oauth_client"])
    assert {"token", "client_id", "session_id", "user_id", "refresh_id", "expires_at"} <= set(
        columns["oauth_access_token"]
    )
    assert {"revoked", "authorization_code_id", "resources"} <= set(columns["oauth_access_token"])
    assert {"revoked", "rotated_at", "auth_time", "resources"} <= set(
        columns["oauth_refresh_token"]
    )
    assert {"client_id", "user_id", "scopes", "resources"} <= set(columns["oauth_consent"])


def test_client_id_has_exactly_one_unique_index():
    defs = [d for d in _indexes("oauth_client").values() if "(client_id)" in d]
    assert len(defs) == 1
    assert "UNIQUE" in defs[0]


def test_named_indexes_of_the_schema_exist():
    access = _indexes("oauth_access_token")
    for name in (
        "oauth_access_token_client_id_idx",
        "oauth_access_token_user_id_idx",
        "oauth_access_token_session_id_idx",
        "oauth_access_token_refresh_id_idx",
        "oauth_access_token_expires_at_idx",
    ):
        assert name in access
    assert "UNIQUE" in access["oauth_access_token_token_key"]
    refresh = _indexes("oauth_refresh_token")
    for name in (
        "oauth_refresh_token_client_id_idx",
        "oauth_refresh_token_user_id_idx",
        "oauth_refresh_token_session_id_idx",
        "oauth_refresh_token_expires_at_idx",
    ):
        assert name in refresh
    consent = _indexes("oauth_consent")
    assert "UNIQUE" in consent["oauth_consent_client_user_uidx"]
    assert "oauth_client_user_id_idx" in _indexes("oauth_client")


def test_foreign_keys_point_at_client_id_with_database_actions():
    cascade, set_null = "c", "n"
    assert _fk_actions("oauth_access_token") == {
        "client_id": ("oauth_client", "client_id", cascade),
        "session_id": ("session", "id", set_null),
        "user_id": ("user", "id", cascade),
        "refresh_id": ("oauth_refresh_token", "id", cascade),
    }
    assert _fk_actions("oauth_refresh_token") == {
        "client_id": ("oauth_client", "client_id", cascade),
        "session_id": ("session", "id", set_null),
        "user_id": ("user", "id", cascade),
    }
    assert _fk_actions("oauth_consent") == {
        "client_id": ("oauth_client", "client_id", cascade),
        "user_id": ("user", "id", cascade),
    }
    assert _fk_actions("oauth_client") == {"user_id": ("user", "id", cascade)}


def test_raw_sql_delete_of_a_client_removes_its_tokens_and_consents():
    client: OAuthClient = OAuthClientFactory()
    refresh = OAuthRefreshTokenFactory(client=client)
    OAuthAccessTokenFactory(client=client, oauth_refresh_token=refresh)
    OAuthConsentFactory(client=client)
    other = OAuthAccessTokenFactory()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM oauth_client WHERE client_id = %s", [client.client_id])
    assert not OAuthAccessToken.objects.filter(client_id=client.client_id).exists()
    assert not OAuthRefreshToken.objects.filter(client_id=client.client_id).exists()
    assert not OAuthConsent.objects.filter(client_id=client.client_id).exists()
    assert OAuthAccessToken.objects.filter(pk=other.pk).exists()


def test_raw_sql_delete_of_a_session_keeps_tokens_without_it():
    session = SessionFactory()
    access = OAuthAccessTokenFactory(session=session, user=session.user)
    refresh = OAuthRefreshTokenFactory(session=session, user=session.user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM session WHERE id = %s", [session.pk])
    access.refresh_from_db()
    refresh.refresh_from_db()
    assert access.session_id is None
    assert refresh.session_id is None


def test_raw_sql_deletes_of_user_and_refresh_token_cascade():
    user = UserFactory()
    refresh = OAuthRefreshTokenFactory(user=user)
    minted = OAuthAccessTokenFactory(oauth_refresh_token=refresh, client=refresh.client)
    owned = OAuthAccessTokenFactory(user=user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM oauth_refresh_token WHERE id = %s", [refresh.pk])
    assert not OAuthAccessToken.objects.filter(pk=minted.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "user" WHERE id = %s', [user.pk])
    assert not OAuthAccessToken.objects.filter(pk=owned.pk).exists()


def test_consent_is_unique_per_client_and_user_in_the_database():
    consent = OAuthConsentFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO oauth_consent (client_id, user_id, scopes) VALUES (%s, %s, %s)",
            [consent.client_id, consent.user_id, ["openid"]],
        )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("token_endpoint_auth_method", "client_secret_jwt_typo"),
        ("grant_types", ["authorization_code", "implicit"]),
        ("response_types", ["token"]),
        ("type", "desktop"),
    ],
)
def test_check_constraints_reject_unknown_enumeration_values(column, value):
    client = OAuthClientFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE oauth_client SET {column} = %s WHERE id = %s", [value, client.pk])


def test_a_public_client_cannot_store_a_secret():
    client = OAuthClientFactory(public_client=True)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE oauth_client SET client_secret = 'x' WHERE id = %s", [client.pk])


def test_client_id_is_unique_in_the_database():
    client = OAuthClientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OAuthClientFactory(client_id=client.client_id)


def test_rows_written_with_only_better_auth_columns_get_defaults():
    user = UserFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO oauth_client (client_id, redirect_uris, user_id) "
            "VALUES ('ba-client', ARRAY['https://x.example/cb'], %s) RETURNING id, disabled",
            [user.pk],
        )
        client_pk, disabled = cursor.fetchone()
        cursor.execute(
            "INSERT INTO oauth_refresh_token (token, client_id, user_id, scopes) "
            "VALUES (%s, 'ba-client', %s, ARRAY['openid']) RETURNING id",
            [crypto.digest("r"), user.pk],
        )
        refresh_pk = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO oauth_access_token (token, client_id, user_id, refresh_id, scopes) "
            "VALUES (%s, 'ba-client', %s, %s, ARRAY['openid']) RETURNING id",
            [crypto.digest("a"), user.pk, refresh_pk],
        )
        access_pk = cursor.fetchone()[0]
    assert disabled is False
    assert is_valid_id("oauth_client", client_pk)
    assert is_valid_id("oauth_access_token", access_pk)
    assert OAuthAccessToken.objects.get(pk=access_pk).oauth_refresh_token_id == refresh_pk


def test_related_names_follow_the_schema():
    user = UserFactory()
    session = SessionFactory(user=user)
    client = OAuthClientFactory(user=user)
    refresh = OAuthRefreshTokenFactory(client=client, user=user, session=session)
    access = OAuthAccessTokenFactory(
        client=client, user=user, session=session, oauth_refresh_token=refresh
    )
    consent = OAuthConsentFactory(client=client, user=user)
    assert list(user.oauth_clients.all()) == [client]
    assert list(user.oauth_access_tokens.all()) == [access]
    assert list(user.oauth_refresh_tokens.all()) == [refresh]
    assert list(user.oauth_consents.all()) == [consent]
    assert list(session.oauth_access_tokens.all()) == [access]
    assert list(session.oauth_refresh_tokens.all()) == [refresh]
    assert list(client.oauth_access_tokens.all()) == [access]
    assert list(client.oauth_refresh_tokens.all()) == [refresh]
    assert list(client.oauth_consents.all()) == [consent]
    assert list(refresh.oauth_access_tokens.all()) == [access]
    assert access.oauth_refresh_token == refresh
    # The foreign key value is the client's public identifier.
    assert access.client_id == client.client_id


def test_string_forms_never_contain_secrets_or_digests():
    client: OAuthClient = OAuthClientFactory(raw_secret="s3cret")
    access: OAuthAccessToken = OAuthAccessTokenFactory(client=client, raw_token="raw-access")
    refresh: OAuthRefreshToken = OAuthRefreshTokenFactory(client=client, raw_token="raw-refresh")
    for obj in (client, access, refresh):
        text = f"{obj} {obj!r}"
        for hidden in ("s3cret", "raw-access", "raw-refresh"):
            assert hidden not in text
        for digest_value in (client.client_secret, access.token, refresh.token):
            assert digest_value and digest_value not in text


def test_model_clean_applies_the_client_rules():
    client = OAuthClient(client_id="x", redirect_uris=["http://evil.example/cb"])
    with pytest.raises(ValidationError) as excinfo:
        client.full_clean()
    assert "redirect_uris" in excinfo.value.message_dict
