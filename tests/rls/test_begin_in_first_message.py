"""A transaction's BEGIN rides in its first statement's message, not a round trip of its own.

Counted on the wire (libpq's protocol trace of the connection), so it shows what the server
receives, whatever psycopg or Django do in between.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import DatabaseError, connection
from psycopg import pq

from beep_shared.models import Team
from beep_shared.rls import tenant_context
from tests.factories import OrganizationFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def queries_on_the_wire() -> Iterator[list[str]]:
    """The simple-protocol Query messages the connection sends inside the block."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            text = trace.read()
    sent.extend(re.findall(r'^F\t\d+\tQuery\t "(.*?)"$', text, re.MULTILINE | re.DOTALL))


def test_the_first_statement_of_a_transaction_carries_its_begin():
    org = OrganizationFactory.create()
    team = TeamFactory.create(organization=org)
    with queries_on_the_wire() as sent, tenant_context(org):
        assert list(Team.objects.values_list("pk", flat=True)) == [team.pk]
        # psycopg knows it is in a transaction again (Django's commit goes through it).
        assert connection.connection.autocommit is False
        assert Team.objects.count() == 1
    assert len(sent) == 3, sent  # the two statements and the COMMIT: no BEGIN alone
    assert sent[0].startswith("BEGIN;\n")
    assert not sent[1].startswith("BEGIN")
    assert sent[2].endswith("COMMIT")


def test_the_transaction_keeps_the_connection_s_isolation_and_access_mode():
    org = OrganizationFactory.create()
    connection.ensure_connection()
    raw = connection.connection
    raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    raw.read_only = True
    try:
        with queries_on_the_wire() as sent, tenant_context(org), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('transaction_isolation'), "
                "current_setting('transaction_read_only')"
            )
            assert cursor.fetchone() == ("repeatable read", "on")
        assert sent[0].startswith("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n")
    finally:
        raw.isolation_level = None
        raw.read_only = None


def test_a_failing_first_statement_leaves_a_transaction_django_rolls_back():
    org = OrganizationFactory.create()
    with pytest.raises(DatabaseError), tenant_context(org), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    raw = connection.connection
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    # psycopg is out of autocommit again: its next transaction starts as it should.
    assert raw.autocommit == connection.get_autocommit()
    team = TeamFactory.create(organization=org)
    with tenant_context(org):
        assert list(Team.objects.values_list("pk", flat=True)) == [team.pk]


def test_raw_psycopg_first_in_the_transaction_still_runs_inside_it():
    org = OrganizationFactory.create()
    with tenant_context(org):
        raw = connection.connection
        first = raw.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text")
            assert cursor.fetchone()[0] == first  # one transaction, begun by psycopg itself


def test_without_the_fold_psycopg_sends_its_own_begin(monkeypatch):
    """What the wire looks like when the fold does not apply (another driver state): the
    BEGIN goes alone, and the statements still run in the one transaction."""
    from beep_shared.rls import connection as rls_connection

    monkeypatch.setattr(rls_connection, "_folded_begin", lambda raw, status: "")
    org = OrganizationFactory.create()
    with queries_on_the_wire() as sent, tenant_context(org):
        Team.objects.count()
    assert sent[0] == "BEGIN" and len(sent) == 3, sent
