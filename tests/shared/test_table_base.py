"""The Table base: database defaults, triggers and the row id sequence."""

import time

import pytest

from beep_shared.ids import is_valid_id
from beep_shared.models import User
from tests.factories import UserFactory
from tests.sql import raw

pytestmark = pytest.mark.django_db


def test_plain_sql_insert_with_reference_columns_only_yields_a_loadable_row():
    [(user_id,)] = raw(
        'INSERT INTO "user" (name, email) VALUES (%s, %s) RETURNING id', ["Ann", "ann@x.io"]
    )
    user = User.objects.get(pk=user_id)
    assert is_valid_id("user", user.pk)
    assert user.row_id > 0
    assert user.version == 1
    assert user.created_by == user.updated_by == "app"
    assert user.is_active and not user.is_staff and not user.is_superuser
    assert user.role == "user" and user.upload_limit == 100_000_000
    # "!" is Django's unusable-password marker: the row loads but cannot log in by password.
    assert not user.has_usable_password()
    assert not user.check_password("")


def test_orm_create_returns_database_defaults_without_a_refresh():
    user = UserFactory()
    assert user.row_id is not None and user.version == 1
    assert user.created_at is not None and user.updated_at is not None


def test_raw_sql_update_bumps_version_and_updated_at():
    user = UserFactory()
    before = user.updated_at
    time.sleep(0.01)
    raw('UPDATE "user" SET name = %s WHERE id = %s', ["Changed", user.pk])
    [(version, updated_at)] = raw('SELECT version, updated_at FROM "user" WHERE id = %s', [user.pk])
    assert version == 2
    assert updated_at >= before
    raw('UPDATE "user" SET name = %s WHERE id = %s', ["Again", user.pk])
    assert raw('SELECT version FROM "user" WHERE id = %s', [user.pk]) == [(3,)]


def test_orm_save_bumps_version_even_when_it_writes_a_stale_value():
    user = UserFactory()
    stale = User.objects.get(pk=user.pk)
    user.name = "first"
    user.save()
    stale.name = "second"
    stale.save()  # writes version=1 back; the trigger counts from OLD.version
    user.refresh_from_db()
    assert user.version == 3
    assert user.name == "second"


def test_created_at_comes_from_the_database_clock_per_statement():
    # The reference computed created_at once at process start; each row must get its own.
    raw('INSERT INTO "user" (name, email) VALUES (%s, %s)', ["A", "a@x.io"])
    raw("SELECT pg_sleep(0.02)")
    raw('INSERT INTO "user" (name, email) VALUES (%s, %s)', ["B", "b@x.io"])
    [(first,), (second,)] = raw('SELECT created_at FROM "user" ORDER BY row_id')
    assert (second - first).total_seconds() >= 0.02


def test_row_ids_increase_in_insert_order_across_tables():
    users = [UserFactory() for _ in range(5)]
    row_ids = [u.row_id for u in users]
    assert row_ids == sorted(row_ids)
    assert len(set(row_ids)) == 5
