"""ModelLookup (beep_iam.services.prepared): the client of every token request, loaded through
one prepared statement, must be the object the ORM loads, field for field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from beep_iam.models import OAuthClient
from beep_iam.services import oauth_clients, oauth_tokens
from beep_iam.services.oauth_errors import InvalidClient
from beep_iam.services.prepared import ModelLookup, fetch_one, user_by_pk
from beep_shared.models import User
from beep_shared.rls import tenant_context
from beep_shared.rls.connection import wanted_tenant
from tests.factories import OrganizationFactory
from tests.factories.oauth import DEFAULT_CLIENT_SECRET, OAuthClientFactory
from tests.factories.shared import UserFactory
from tests.factories.tenant import MemberFactory

pytestmark = pytest.mark.django_db


def _fields(client: OAuthClient) -> dict[str, object]:
    return {f.attname: getattr(client, f.attname) for f in OAuthClient._meta.concrete_fields}


def _rich_client() -> OAuthClient:
    client: OAuthClient = OAuthClientFactory(
        metadata={"logo": "https://client.example.com/l.png", "n": [1, 2.5, None, True]},
        scopes=["openid", "email"],
        grant_types=["client_credentials"],
        contacts=["a@example.com"],
        jwks='{"keys": []}',
        skip_consent=None,
        deleted_at=timezone.now() - dt.timedelta(days=1),
    )
    return client


@pytest.mark.parametrize("prepared", [True, False])
def test_the_lookup_loads_what_the_orm_loads(settings, prepared):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": prepared}
    client = _rich_client()
    lookup = ModelLookup(OAuthClient, lambda key: OAuthClient.objects.filter(client_id=key))
    for _ in range(3):  # past psycopg's and the server's first executions
        loaded = lookup.get(client.client_id)
        assert loaded is not None
        expected = OAuthClient.objects.get(pk=client.pk)
        assert _fields(loaded) == _fields(expected)
        assert loaded.metadata == {
            "logo": "https://client.example.com/l.png",
            "n": [1, 2.5, None, True],
        }
        assert loaded.deleted_at is not None and loaded.deleted_at.utcoffset() == dt.timedelta(0)
        assert loaded._state.adding is False and loaded._state.db == expected._state.db
    assert lookup.get("no-such-client") is None


def test_the_lookup_is_one_prepared_statement(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    client: OAuthClient = OAuthClientFactory()
    for _ in range(2):
        oauth_clients.authenticate_client(client.client_id, DEFAULT_CLIENT_SECRET)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "oauth_client" WHERE "oauth_client"."client_id" = $1%'],
        )
        assert cursor.fetchone()[0] == 1


def test_a_loaded_client_saves_like_an_orm_one():
    client = _rich_client()
    loaded = ModelLookup(OAuthClient, lambda key: OAuthClient.objects.filter(client_id=key)).get(
        client.client_id
    )
    assert loaded is not None
    loaded.name = "renamed"
    loaded.save(update_fields=["name"])
    assert OAuthClient.objects.get(pk=client.pk).name == "renamed"


@pytest.mark.parametrize("prepared", [True, False])
def test_authentication_rules_hold_through_the_lookup(settings, prepared):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": prepared}
    client: OAuthClient = OAuthClientFactory()
    assert (
        oauth_clients.authenticate_client(client.client_id, DEFAULT_CLIENT_SECRET).pk == client.pk
    )
    with pytest.raises(InvalidClient):
        oauth_clients.authenticate_client(client.client_id, f"{DEFAULT_CLIENT_SECRET}x")
    with pytest.raises(InvalidClient):
        oauth_clients.authenticate_client(f"unknown-{client.client_id}", DEFAULT_CLIENT_SECRET)
    OAuthClient.objects.filter(pk=client.pk).update(disabled=True)
    with pytest.raises(InvalidClient):
        oauth_clients.authenticate_client(client.client_id, DEFAULT_CLIENT_SECRET)


@pytest.mark.parametrize("prepared", [True, False])
def test_user_by_pk_loads_what_the_orm_loads(settings, prepared):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": prepared}
    user = UserFactory(image="https://example.com/me.png", email_verified=True)
    for _ in range(3):
        loaded = user_by_pk(user.pk)
        expected = User.objects.get(pk=user.pk)
        assert loaded is not None and loaded.pk == user.pk
        assert {f.attname: getattr(loaded, f.attname) for f in User._meta.concrete_fields} == {
            f.attname: getattr(expected, f.attname) for f in User._meta.concrete_fields
        }
        assert loaded.check_password("correct horse battery staple")
    other = UserFactory()
    other_pk = other.pk
    other.delete()
    assert user_by_pk(other_pk) is None


# --- the lookups' way past Django's cursor wrapper ------------------------------------------


def _issued_token() -> str:
    client = OAuthClientFactory(grant_types=["client_credentials"], scopes=["read"])
    return oauth_tokens.issue_tokens(client, scopes=["read"]).access_token


def test_an_execute_wrapper_still_sees_the_prepared_lookups(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    raw = _issued_token()
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert oauth_tokens.validate_access_token(raw) is not None
    assert any("FROM oauth_access_token t" in sql for sql in seen)


def test_the_prepared_lookup_runs_under_a_tenant_scope(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    raw = _issued_token()
    user = UserFactory()
    organization = OrganizationFactory()
    MemberFactory(organization=organization, user=user)
    with tenant_context(organization):
        assert oauth_tokens.validate_access_token(raw) is not None
        assert wanted_tenant(connection) == str(organization.pk)


def test_errors_of_a_lookup_past_the_wrapper_are_djangos(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    with pytest.raises(ProgrammingError):
        fetch_one("default", "SELECT no_such_column FROM oauth_client WHERE client_id = %s", ["x"])


def test_a_lookup_in_a_broken_transaction_is_refused_as_django_refuses_it(settings):
    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    raw = _issued_token()
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic(savepoint=False):
            OAuthClientFactory(client_id=OAuthClient.objects.first().client_id)
        with pytest.raises(TransactionManagementError):
            oauth_tokens.validate_access_token(raw)
