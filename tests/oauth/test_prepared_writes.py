"""The token endpoint's writes and its locked load without the ORM's per-call work
(beep_iam.services.prepared: ``ModelInsert`` / ``insert``, ``ModelLookup`` with related
objects): rows and objects must be what the ORM writes and loads, several rows one atomic
statement, and a rotation two statements."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from beep_iam.models import OAuthAccessToken, OAuthRefreshToken
from beep_iam.services import oauth_tokens
from beep_iam.services.oauth_tokens import ANY_CLIENT
from beep_iam.services.prepared import ModelLookup, insert
from beep_shared.db.show_once import set_new_secret
from tests.factories.oauth import (
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthRefreshTokenFactory,
)
from tests.factories.shared import UserFactory

pytestmark = pytest.mark.django_db


def _fields(obj: object) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _new_pair(client, user) -> tuple[OAuthRefreshToken, OAuthAccessToken]:
    now = timezone.now()
    refresh = OAuthRefreshToken(
        client_id=client.client_id,
        user_id=user.pk,
        scopes=["openid", "offline_access"],
        resources=["https://api.example.com/"],
        expires_at=now + dt.timedelta(days=1),
        auth_time=now - dt.timedelta(minutes=5),
        confirmation={"jkt": "thumbprint"},
    )
    set_new_secret(refresh)
    access = OAuthAccessToken(
        client_id=client.client_id,
        user_id=user.pk,
        oauth_refresh_token=refresh,
        scopes=[],
        expires_at=now + dt.timedelta(hours=1),
        confirmation=None,
    )
    set_new_secret(access)
    return refresh, access


@pytest.mark.parametrize("prepared", [True, False])
def test_inserted_rows_are_what_the_orm_writes_and_returns(settings, prepared):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": prepared}
    client, user = OAuthClientFactory(), UserFactory()
    for _ in range(3):  # past psycopg's and the server's first executions
        refresh, access = _new_pair(client, user)
        insert("default", [refresh, access])
        for obj in (refresh, access):
            stored = type(obj).objects.get(pk=obj.pk)
            # The database's defaults come back as save() sets them (row_id, created_at...).
            assert _fields(obj) == _fields(stored)
            assert obj.row_id is not None and obj.version == 1
            assert obj.created_at.utcoffset() == dt.timedelta(0)
            assert obj._state.adding is False and obj._state.db == "default"
        stored_access = OAuthAccessToken.objects.get(pk=access.pk)
        assert stored_access.oauth_refresh_token_id == refresh.pk
        assert stored_access.scopes == [] and stored_access.confirmation is None
        assert OAuthRefreshToken.objects.get(pk=refresh.pk).confirmation == {"jkt": "thumbprint"}


def test_one_insert_is_one_prepared_statement(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    client, user = OAuthClientFactory(), UserFactory()
    for _ in range(3):
        insert("default", list(_new_pair(client, user)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['WITH row0 AS (INSERT INTO "oauth_refresh_token"%'],
        )
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)  # autocommit: the statement is its own transaction
def test_rows_and_the_statement_before_them_are_written_together_or_not_at_all(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    client, user = OAuthClientFactory(), UserFactory()
    old = OAuthRefreshTokenFactory(client=client, user=user)
    taken = OAuthAccessTokenFactory(client=client, user=user)
    refresh, access = _new_pair(client, user)
    access.token = taken.token  # the last row breaks the unique index
    revoke = ('UPDATE "oauth_refresh_token" SET "revoked" = now() WHERE "id" = %s', [old.pk])
    with pytest.raises(IntegrityError):
        insert("default", [refresh, access], revoke)
    assert not OAuthRefreshToken.objects.filter(pk=refresh.pk).exists()
    assert OAuthRefreshToken.objects.get(pk=old.pk).revoked is None


def test_a_pre_save_receiver_sees_the_rows_through_the_orm(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    client, user = OAuthClientFactory(), UserFactory()
    seen: list[str] = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    pre_save.connect(receiver, sender=OAuthAccessToken)
    try:
        refresh, access = _new_pair(client, user)
        insert("default", [refresh, access])
    finally:
        pre_save.disconnect(receiver, sender=OAuthAccessToken)
    assert seen == [access.pk]
    assert OAuthAccessToken.objects.get(pk=access.pk).oauth_refresh_token_id == refresh.pk


@pytest.mark.parametrize("prepared", [True, False])
def test_the_locked_lookup_loads_related_objects_as_the_orm_does(settings, prepared):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": prepared}
    token = OAuthRefreshTokenFactory(session=None)
    lookup = ModelLookup(
        OAuthRefreshToken,
        lambda key: (
            OAuthRefreshToken.objects.select_for_update(of=("self",))
            .select_related("client", "user", "session")
            .filter(token=key)
        ),
    )
    for _ in range(3):
        with transaction.atomic():
            loaded = lookup.get(token.token)
        expected = OAuthRefreshToken.objects.select_related("client", "user").get(pk=token.pk)
        assert loaded is not None and _fields(loaded) == _fields(expected)
        with CaptureQueriesContext(connection) as queries:
            assert _fields(loaded.client) == _fields(expected.client)
            assert _fields(loaded.user) == _fields(expected.user)
            assert loaded.session is None  # the outer join found none: no object, no query
        assert len(queries) == 0
    with transaction.atomic():
        assert lookup.get("no-such-token") is None


def test_a_rotation_is_two_statements_and_an_issue_one(settings):
    client = OAuthClientFactory()
    user = UserFactory()
    with CaptureQueriesContext(connection) as issuing:
        issued = oauth_tokens.issue_tokens(
            client, user=user, scopes=["openid", "offline_access"], with_refresh=True
        )
    # (Logged queries run unprepared, behind the row level security wrapper's SET LOCAL.)
    assert (
        len(issuing) == 1
        and 'WITH row0 AS (INSERT INTO "oauth_refresh_token"' in (issuing[0]["sql"])
    )
    with CaptureQueriesContext(connection) as rotating:
        rotated = oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)
    # The locked token (under its family's lock) with its client and user, then the writes
    # (BEGIN and COMMIT are not counted here).
    statements = [q["sql"] for q in rotating if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements
    assert "pg_advisory_xact_lock" in statements[0] and "FOR UPDATE" in statements[0]
    assert "WITH before AS (UPDATE" in statements[1]
    old = OAuthRefreshToken.objects.get(pk=issued.refresh.pk)
    assert old.revoked is not None and old.rotated_at == old.revoked
    assert rotated.refresh is not None and rotated.refresh.user == user
    assert OAuthAccessToken.objects.get(pk=rotated.access.pk).oauth_refresh_token_id == (
        rotated.refresh.pk
    )
