"""Removing a carrier account clears it from its messages, and on PostgreSQL reads them through the
partial indexes msg_carrier_account and msg_fallback_account, never scanning every message: both
the UPDATEs that clear the account and the database's check of the constraint at commit."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import require_service, uses_postgres
from messaging.models import Message
from numbers.models import ProviderAccount
from numbers.services import carrier_account_remove

pytestmark = pytest.mark.django_db

ROWS = 4_000


@pytest.fixture
def accounts(workspace):
    primary = ProviderAccount.objects.create(workspace=workspace, provider="simulator", name="US")
    uk = ProviderAccount.objects.create(
        workspace=workspace, provider="simulator", name="UK", is_primary=False
    )
    return primary, uk


def messages(workspace, accounts, count: int) -> list[Message]:
    """Most with neither account (their sender's account took them); one in 50 routed through the
    UK account (one in 200 with the primary as its fallback), one in 100 through the primary with
    the UK account as its fallback."""
    primary, uk = accounts
    rows = []
    for n in range(count):
        carrier, fallback = None, None
        if n % 50 == 0:
            carrier, fallback = uk, primary if n % 200 == 0 else None
        elif n % 100 == 1:
            carrier, fallback = primary, uk
        rows.append(
            Message(
                workspace=workspace,
                direction="outbound",
                status="delivered",
                to_number=f"+44791112{n % 10000:04d}",
                from_number="+12025550100",
                body=f"Message {n}",
                carrier_account=carrier,
                fallback_account=fallback,
            )
        )
    return Message.objects.bulk_create(rows, batch_size=2000)


def test_removing_an_account_clears_it_from_its_messages_and_keeps_the_others(workspace, accounts):
    primary, uk = accounts
    messages(workspace, accounts, 300)
    removed = uk.pk
    carrier_account_remove(account=uk)
    assert not ProviderAccount.objects.filter(pk=removed).exists()
    assert not Message.objects.filter(carrier_account_id=removed).exists()
    assert not Message.objects.filter(fallback_account_id=removed).exists()
    # 6 routed through UK (one with the primary as fallback), 3 through the primary (UK fallback).
    assert Message.objects.filter(carrier_account=None, fallback_account=primary).count() == 2
    assert Message.objects.filter(carrier_account=primary, fallback_account=None).count() == 3
    assert Message.objects.filter(carrier_account=None, fallback_account=None).count() == 295


@pytest.fixture
def many_messages(workspace, accounts):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    messages(workspace, accounts, ROWS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    return accounts


def test_the_statements_that_clear_an_account_use_the_partial_indexes(many_messages):
    _, uk = many_messages
    with CaptureQueriesContext(connection) as captured:
        carrier_account_remove(account=uk)
    statements = [q["sql"] for q in captured.captured_queries if "messaging_message" in q["sql"]]
    plans = {}
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute("EXPLAIN " + sql)
            plans[sql] = "\n".join(row[0] for row in cursor.fetchall())
    for sql, plan in plans.items():
        assert "Seq Scan on messaging_message" not in plan, f"{sql}\n{plan}"
    for column, index in [
        ("carrier_account_id", "msg_carrier_account"),
        ("fallback_account_id", "msg_fallback_account"),
    ]:
        clearing = f'UPDATE "messaging_message" SET "{column}" = NULL'
        (plan,) = [plan for sql, plan in plans.items() if sql.startswith(clearing)]
        assert index in plan, plan


def scans(cursor) -> tuple[int, int, int]:
    """The scans this connection has counted and not yet reported (inside a transaction it reports
    none): of the whole messages table, and of each partial index. Only their differences count."""
    cursor.execute(
        "SELECT pg_stat_get_xact_numscans('messaging_message'::regclass),"
        " pg_stat_get_xact_numscans('msg_carrier_account'::regclass),"
        " pg_stat_get_xact_numscans('msg_fallback_account'::regclass)"
    )
    return cursor.fetchone()


def test_the_constraints_check_on_removal_reads_the_indexes_not_every_message(many_messages):
    _, uk = many_messages
    with connection.cursor() as cursor:
        before = scans(cursor)
        carrier_account_remove(account=uk)
        # The constraints are deferred to the commit, which a test never reaches: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        after = scans(cursor)
    seq_scans, carrier_index_scans, fallback_index_scans = (a - b for a, b in zip(after, before, strict=True))
    assert seq_scans == 0
    # The UPDATE that clears the account, then the check that no message names it any more.
    assert carrier_index_scans >= 2 and fallback_index_scans >= 2
