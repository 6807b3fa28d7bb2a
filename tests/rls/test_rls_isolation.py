"""Tenant isolation of every tenant-scoped table, through the ORM and through raw SQL.

Everything runs as the application's own role, never a superuser: on the embedded server
``beep_app``, the tables' owner (FORCE ROW LEVEL SECURITY makes the policy apply to it); on a
server set up as the README says, a role with DML only (CI runs both).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import ProgrammingError, connection, models, transaction
from django.utils import timezone

from beep_iam.models import (
    ApiKey,
    Invitation,
    Member,
    OrganizationRole,
    ScimProvider,
    SsoProvider,
    Subscription,
    TeamMember,
)
from beep_shared.models import Organization, Team
from beep_shared.rls import tenant_context
from beep_shared.rls.registry import tenant_models
from tests.factories import OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

_serial = itertools.count()


@dataclass
class World:
    a: Organization
    b: Organization
    teams: dict[str, Team]

    def user(self) -> Any:
        return UserFactory.create()


def _n() -> int:
    return next(_serial)


# Required fields of a new row of each table in ``org`` (None: no organization).
FIELDS: dict[type[models.Model], Callable[[World, Any], dict[str, Any]]] = {
    Team: lambda w, org: {"name": f"t{_n()}", "slug": f"t-{_n()}"},
    Member: lambda w, org: {"user": w.user()},
    TeamMember: lambda w, org: {"team": w.teams[org.pk], "user": w.user()},
    Invitation: lambda w, org: {
        "email": f"i{_n()}@example.com",
        "expires_at": timezone.now() + timedelta(days=1),
        "inviter": w.user(),
    },
    OrganizationRole: lambda w, org: {"role": f"r{_n()}", "permission": "{}"},
    Subscription: lambda w, org: {"plan": "pro", "reference_id": "ref"},
    ApiKey: lambda w, org: {"key": f"digest-{_n()}", "user": w.user()},
    SsoProvider: lambda w, org: {
        "issuer": "https://idp.example.com",
        "provider_id": f"sso-{_n()}",
        "domain": "example.com",
    },
    ScimProvider: lambda w, org: {"provider_id": f"scim-{_n()}", "scim_token": f"d-{_n()}"},
}
NULLABLE = {ApiKey, SsoProvider, ScimProvider}


def test_every_tenant_model_is_covered_here():
    assert set(tenant_models()) == set(FIELDS)
    assert {m for m in FIELDS if m.rls_mode == "nullable"} == NULLABLE


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # UserFactory sets a password; the default PBKDF2 costs ~0.5 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world() -> World:
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    teams = {org.pk: TeamFactory.create(organization=org) for org in (a, b)}
    return World(a=a, b=b, teams=teams)


def fields(model: type[models.Model], world: World, org: Organization | None) -> dict[str, Any]:
    return {"organization": org, **FIELDS[model](world, org)}


def orm_create(model: type[models.Model], world: World, org: Organization | None) -> str:
    return model._default_manager.create(**fields(model, world, org)).pk


def raw_insert(model: type[models.Model], world: World, org: Organization | None) -> str:
    values = {
        model._meta.get_field(name).column: getattr(value, "pk", value)
        for name, value in fields(model, world, org).items()
    }
    columns = ", ".join(f'"{c}"' for c in values)
    marks = ", ".join(["%s"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({marks}) RETURNING id',
            list(values.values()),
        )
        return cursor.fetchone()[0]


def orm_ids(model: type[models.Model]) -> set[str]:
    return set(model._default_manager.values_list("pk", flat=True))


def raw_ids(model: type[models.Model]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{model._meta.db_table}"')
        return {row[0] for row in cursor.fetchall()}


def rejected() -> Any:
    return pytest.raises(ProgrammingError, match="row-level security")


MODELS = pytest.mark.parametrize("model", list(FIELDS), ids=lambda m: m._meta.db_table)
READS = pytest.mark.parametrize("read", [orm_ids, raw_ids], ids=["orm", "raw"])
WRITES = pytest.mark.parametrize("write", [orm_create, raw_insert], ids=["orm", "raw"])


@MODELS
@READS
def test_each_tenant_sees_only_its_rows_and_no_tenant_sees_none(model, read, world):
    rows = {}
    for org in (world.a, world.b):
        with tenant_context(org):
            rows[org.pk] = orm_create(model, world, org)
    shared = set()
    if model in NULLABLE:
        shared.add(orm_create(model, world, None))
    team_rows = {t.pk for t in world.teams.values()} if model is Team else set()

    with tenant_context(world.a):
        assert read(model) - team_rows == {rows[world.a.pk]} | shared
    with tenant_context(world.b):
        assert read(model) - team_rows == {rows[world.b.pk]} | shared
    assert read(model) == shared  # no tenant: nothing, or only the rows of no organization


@MODELS
@WRITES
def test_writing_a_row_of_another_tenant_is_rejected(model, write, world):
    with tenant_context(world.a):
        assert write(model, world, world.a)
        with rejected(), transaction.atomic():
            write(model, world, world.b)
    with rejected(), transaction.atomic():
        write(model, world, world.a)  # no tenant at all


@MODELS
def test_moving_a_row_to_another_tenant_is_rejected(model, world):
    with tenant_context(world.a):
        row = orm_create(model, world, world.a)
        with rejected(), transaction.atomic():
            model._default_manager.filter(pk=row).update(organization=world.b)
        with rejected(), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{model._meta.db_table}" SET organization_id = %s WHERE id = %s',
                [world.b.pk, row],
            )


@MODELS
def test_rows_of_another_tenant_cannot_be_updated_or_deleted(model, world):
    with tenant_context(world.b):
        row = orm_create(model, world, world.b)
    with tenant_context(world.a):
        assert model._default_manager.filter(pk=row).update(source="x") == 0
        assert model._default_manager.filter(pk=row).delete()[0] == 0
        with connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{model._meta.db_table}" WHERE id = %s', [row])
            assert cursor.rowcount == 0
    with tenant_context(world.b):
        assert model._default_manager.filter(pk=row).exists()


@pytest.mark.parametrize("model", sorted(NULLABLE, key=str), ids=lambda m: m._meta.db_table)
@WRITES
def test_nullable_tables_accept_rows_of_no_organization_from_anyone(model, write, world):
    no_tenant_row = write(model, world, None)
    with tenant_context(world.a):
        tenant_row = write(model, world, None)
        assert {no_tenant_row, tenant_row} <= orm_ids(model)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = %s "
            "AND column_name = 'organization_id'",
            [model._meta.db_table],
        )
        assert cursor.fetchone()[0] == "YES"


@pytest.mark.parametrize(
    "model", sorted(set(FIELDS) - NULLABLE, key=str), ids=lambda m: m._meta.db_table
)
def test_standard_tables_keep_organization_not_null(model, world):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = %s "
            "AND column_name = 'organization_id'",
            [model._meta.db_table],
        )
        assert cursor.fetchone()[0] == "NO"
