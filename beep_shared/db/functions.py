"""SQL functions and sequences every beep table's defaults rely on.

They let another service insert rows naming only the reference's columns: ``id`` defaults to
``beep_entity_id('<table>')`` and ``row_id`` to ``nextval('beep_row_id_seq')``.
"""

from django.db import migrations
from django.db.models import Func, Value
from django.db.models.fields import BigIntegerField, TextField

ROW_ID_SEQUENCE = "beep_row_id_seq"

CREATE_SQL = f"""
CREATE SEQUENCE IF NOT EXISTS {ROW_ID_SEQUENCE} AS bigint;

CREATE OR REPLACE FUNCTION beep_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    -- 48-bit Unix milliseconds over a random v4 uuid, then version bits 0111 (RFC 9562).
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(
                        extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

CREATE OR REPLACE FUNCTION beep_entity_id(prefix text) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT prefix || '__' || beep_uuid7()::text
$$;
"""

DROP_SQL = f"""
DROP FUNCTION IF EXISTS beep_entity_id(text);
DROP FUNCTION IF EXISTS beep_uuid7();
DROP SEQUENCE IF EXISTS {ROW_ID_SEQUENCE};
"""


def install_operation() -> migrations.RunSQL:
    """The migration operation that creates the functions; first in beep_shared's 0001."""
    return migrations.RunSQL(CREATE_SQL, DROP_SQL, elidable=False)


def entity_id_default(prefix: str) -> Func:
    return Func(Value(prefix), function="beep_entity_id", output_field=TextField())


def row_id_default() -> Func:
    return Func(Value(ROW_ID_SEQUENCE), function="nextval", output_field=BigIntegerField())
