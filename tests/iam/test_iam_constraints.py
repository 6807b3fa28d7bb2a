"""The database itself refuses bad rows of the global IAM tables (raw SQL, no model code)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import (
    AccountFactory,
    DeviceCodeFactory,
    PasskeyFactory,
    TwoFactorFactory,
    UserFactory,
    WalletAddressFactory,
)

pytestmark = pytest.mark.django_db

USER = object()  # stands for the id of the test's user
OTHER_USER = object()
MISSING_USER = "user__018f0000-0000-7000-8000-000000000000"

# One valid row per table naming only the reference's columns: the database supplies the rest.
VALID: dict[str, dict[str, Any]] = {
    "account": {"account_id": "42", "provider_id": "github", "user_id": USER},
    "two_factor": {"secret": "s", "backup_codes": "a,b", "user_id": USER},
    "passkey": {
        "public_key": "pk",
        "user_id": USER,
        "credential_id": "cred-1",
        "counter": 0,
        "device_type": "singleDevice",
    },
    "device_code": {
        "device_code": "digest-1",
        "user_code": "BCDFGHJK",
        "expires_at": "2100-01-01T00:00:00Z",
    },
    "jwks": {"public_key": "{}", "private_key": "{}"},
    "rate_limit": {"key": "1.2.3.4/sign-in", "count": 1, "last_request": 1_700_000_000_000},
    "verification": {"identifier": "i", "value": "v", "expires_at": "2100-01-01T00:00:00Z"},
    "wallet_address": {"user_id": USER, "address": "0xabc", "chain_id": 1},
}


@pytest.fixture
def users() -> dict[object, str]:
    return {
        USER: UserFactory.create(password=None).pk,
        OTHER_USER: UserFactory.create(password=None).pk,
    }


def insert(table: str, users: dict[object, str], omit: tuple[str, ...] = (), **overrides: Any):
    row = {k: v for k, v in {**VALID[table], **overrides}.items() if k not in omit}
    values = [users[v] if v is USER or v is OTHER_USER else v for v in row.values()]
    columns = ", ".join(f'"{c}"' for c in row)
    placeholders = ", ".join(["%s"] * len(row))
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})', values)


def refusal(table: str, users: dict[object, str], **overrides: Any) -> Any:
    """Insert a row that must fail; return the driver's diagnostics of the failure."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        # Foreign keys are DEFERRABLE INITIALLY DEFERRED; check them now, not at commit.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        insert(table, users, **overrides)
    return excinfo.value.__cause__.diag


@pytest.mark.parametrize("table", sorted(VALID))
def test_a_row_naming_only_reference_columns_is_accepted(table, users):
    insert(table, users)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*), min(id) FROM "{table}"')
        count, row_id = cursor.fetchone()
    assert count == 1
    assert row_id.startswith(f"{table}__")


def test_database_defaults_fill_flags_status_and_counters(users):
    for table in ("device_code", "passkey", "rate_limit", "wallet_address"):
        insert(table, users, omit=("count",))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT status FROM device_code), (SELECT backed_up FROM passkey),"
            " (SELECT count FROM rate_limit), (SELECT is_primary FROM wallet_address)"
        )
        assert cursor.fetchone() == ("pending", False, 0, False)


NOT_NULL = [
    ("account", "account_id"),
    ("account", "provider_id"),
    ("account", "user_id"),
    ("two_factor", "secret"),
    ("two_factor", "backup_codes"),
    ("two_factor", "user_id"),
    ("passkey", "public_key"),
    ("passkey", "user_id"),
    ("passkey", "credential_id"),
    ("passkey", "counter"),
    ("passkey", "device_type"),
    ("passkey", "backed_up"),
    ("device_code", "device_code"),
    ("device_code", "user_code"),
    ("device_code", "expires_at"),
    ("device_code", "status"),
    ("jwks", "public_key"),
    ("jwks", "private_key"),
    ("rate_limit", "key"),
    ("rate_limit", "count"),
    ("verification", "identifier"),
    ("verification", "value"),
    ("verification", "expires_at"),
    ("wallet_address", "user_id"),
    ("wallet_address", "address"),
    ("wallet_address", "chain_id"),
    ("wallet_address", "is_primary"),
]


@pytest.mark.parametrize(("table", "column"), NOT_NULL)
def test_required_columns_refuse_null(table, column, users):
    diag = refusal(table, users, **{column: None})
    assert diag.sqlstate == "23502"  # not_null_violation
    assert diag.column_name == column


BAD_VALUES = [
    ("passkey", {"counter": -1}, "passkey_counter_non_negative"),
    ("device_code", {"user_code": "bcdfghjk"}, "device_code_user_code_normalized"),
    ("device_code", {"user_code": "BCDF-GHJK"}, "device_code_user_code_normalized"),
    ("device_code", {"user_code": "BCDF GHJK"}, "device_code_user_code_normalized"),
    ("device_code", {"user_code": "ÄBCD"}, "device_code_user_code_normalized"),
    ("device_code", {"user_code": ""}, "device_code_user_code_normalized"),
    ("device_code", {"status": "expired"}, "device_code_status_valid"),
    ("device_code", {"status": "Pending"}, "device_code_status_valid"),
    ("device_code", {"polling_interval": 0}, "device_code_polling_interval_positive"),
    ("device_code", {"status": "approved"}, "device_code_approved_has_user"),
    ("rate_limit", {"count": -1}, "rate_limit_count_non_negative"),
    ("rate_limit", {"last_request": -1}, "rate_limit_last_request_non_negative"),
    ("wallet_address", {"chain_id": 0}, "wallet_address_chain_id_positive"),
    ("wallet_address", {"chain_id": -1}, "wallet_address_chain_id_positive"),
]


@pytest.mark.parametrize(("table", "overrides", "constraint"), BAD_VALUES)
def test_check_constraints_refuse_bad_values(table, overrides, constraint, users):
    diag = refusal(table, users, **overrides)
    assert diag.sqlstate == "23514"  # check_violation
    assert diag.constraint_name == constraint


def test_approved_device_code_with_a_user_is_accepted(users):
    insert("device_code", users, status="approved", user_id=USER)


# (table, first row, second row, unique constraint): the second row clashes with the first.
DUPLICATES = [
    ("account", {}, {"user_id": OTHER_USER}, "account_provider_id_account_id_key"),
    ("two_factor", {}, {"secret": "other"}, "two_factor_user_id_key"),
    ("passkey", {}, {"user_id": OTHER_USER}, "passkey_credential_id_key"),
    ("device_code", {}, {"user_code": "ZZZZ"}, "device_code_device_code_key"),
    ("device_code", {}, {"device_code": "digest-2"}, "device_code_user_code_key"),
    ("rate_limit", {}, {"count": 5}, "rate_limit_key_key"),
    ("wallet_address", {}, {}, "wallet_address_user_id_address_chain_id_key"),
    (
        "wallet_address",
        {"is_primary": True},
        {"address": "0xdef", "is_primary": True},
        "wallet_address_user_id_primary_key",
    ),
]


@pytest.mark.parametrize(("table", "first", "second", "constraint"), DUPLICATES)
def test_unique_constraints_refuse_duplicates(table, first, second, constraint, users):
    insert(table, users, **first)
    diag = refusal(table, users, **second)
    assert diag.sqlstate == "23505"  # unique_violation
    assert diag.constraint_name == constraint


ALLOWED_NEIGHBOURS = [
    ("account", {}, {"provider_id": "google"}),
    ("wallet_address", {}, {"chain_id": 10}),
    ("wallet_address", {}, {"user_id": OTHER_USER}),
    ("wallet_address", {"is_primary": True}, {"address": "0xdef"}),
    ("wallet_address", {"is_primary": True}, {"user_id": OTHER_USER, "is_primary": True}),
]


@pytest.mark.parametrize(("table", "first", "second"), ALLOWED_NEIGHBOURS)
def test_rows_differing_in_one_unique_column_are_accepted(table, first, second, users):
    insert(table, users, **first)
    insert(table, users, **second)


@pytest.mark.parametrize(
    ("table", "overrides"),
    [
        ("account", {}),
        ("two_factor", {}),
        ("passkey", {}),
        ("wallet_address", {}),
        ("device_code", {"status": "approved"}),
    ],
)
def test_foreign_keys_refuse_a_missing_user(table, overrides, users):
    diag = refusal(table, {**users, USER: MISSING_USER}, user_id=USER, **overrides)
    assert diag.sqlstate == "23503"  # foreign_key_violation
    assert diag.constraint_name == f"{table}_user_id_fkey"


@pytest.mark.parametrize(
    "factory",
    [AccountFactory, TwoFactorFactory, PasskeyFactory, WalletAddressFactory, DeviceCodeFactory],
)
def test_deleting_a_user_with_raw_sql_cascades(factory):
    user = UserFactory.create(password=None)
    row = factory(user=user)
    other = factory(user=UserFactory.create(password=None))
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "user" WHERE id = %s', [user.pk])
    model = factory._meta.model
    assert not model.objects.filter(pk=row.pk).exists()
    assert model.objects.filter(pk=other.pk).exists()
