"""Indexes and foreign key actions of the global IAM tables, read from PostgreSQL's catalog."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

TABLES = (
    "account",
    "two_factor",
    "passkey",
    "device_code",
    "jwks",
    "rate_limit",
    "verification",
    "wallet_address",
)

# The lookups SCHEMA.md lists an index (or unique constraint) for, by column list.
LISTED_LOOKUPS = [
    ("account", ("user_id",)),
    ("account", ("provider_id",)),
    ("account", ("provider_id", "account_id")),
    ("account", ("user_id", "provider_id")),
    ("two_factor", ("user_id",)),
    ("passkey", ("user_id",)),
    ("passkey", ("credential_id",)),
    ("device_code", ("device_code",)),
    ("device_code", ("user_code",)),
    ("device_code", ("expires_at",)),
    ("device_code", ("user_id",)),  # for the ON DELETE CASCADE from user
    ("rate_limit", ("key",)),
    ("verification", ("identifier",)),
    ("verification", ("identifier", "value")),
    ("verification", ("expires_at",)),
    ("wallet_address", ("user_id", "address", "chain_id")),
]


def indexes(table: str) -> list[tuple[str, tuple[str, ...], bool, bool]]:
    """(name, columns in order, unique, partial) of every index on ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname,
                   array_agg(a.attname ORDER BY k.ord),
                   i.indisunique,
                   i.indpred IS NOT NULL
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = %s::regclass
            GROUP BY c.relname, i.indisunique, i.indpred IS NOT NULL
            """,
            [f'"{table}"'],
        )
        return [(name, tuple(cols), unique, partial) for name, cols, unique, partial in cursor]


@pytest.mark.parametrize(("table", "columns"), LISTED_LOOKUPS)
def test_every_listed_lookup_is_served_by_an_index(table, columns):
    usable = [
        name
        for name, cols, _unique, partial in indexes(table)
        if not partial and cols[: len(columns)] == columns
    ]
    assert usable, f"no index on {table} starts with {columns}"


@pytest.mark.parametrize("table", TABLES)
def test_no_index_is_a_leading_prefix_of_another(table):
    # A plain index on (a) next to one on (a, b) costs writes and serves nothing more.
    found = [(n, c) for n, c, unique, partial in indexes(table) if not unique and not partial]
    every = [(n, c) for n, c, _unique, partial in indexes(table) if not partial]
    for name, cols in found:
        longer = [other for other, c in every if other != name and c[: len(cols)] == cols]
        assert not longer, f"{name} {cols} is redundant with {longer}"


def test_named_indexes_exist():
    expected = {
        "account": {"account_user_provider_idx", "account_provider_id_account_id_key"},
        "two_factor": {"two_factor_user_id_key"},
        "passkey": {"passkey_user_id_idx", "passkey_credential_id_key"},
        "device_code": {
            "device_code_expires_at_idx",
            "device_code_user_id_idx",
            "device_code_device_code_key",
            "device_code_user_code_key",
        },
        "rate_limit": {"rate_limit_key_key"},
        "verification": {"verification_ident_value_idx", "verification_expires_at_idx"},
        "wallet_address": {
            "wallet_address_user_id_address_chain_id_key",
            "wallet_address_user_id_primary_key",
        },
    }
    for table, names in expected.items():
        assert names <= {name for name, *_ in indexes(table)}, table


def test_user_foreign_keys_cascade_in_the_database():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT conrelid::regclass::text, conname, confdeltype
            FROM pg_constraint
            WHERE contype = 'f' AND confrelid = '"user"'::regclass
              AND conrelid::regclass::text = ANY(%s)
            """,
            [[f"{t}" for t in TABLES]],
        )
        actions = {(table, name): action for table, name, action in cursor}
    assert actions == {
        (table, f"{table}_user_id_fkey"): "c"
        for table in ("account", "two_factor", "passkey", "device_code", "wallet_address")
    }
