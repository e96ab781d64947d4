"""The suite's own harness: emptying the test database after a transactional test survives a
live server still writing (the emptying deadlocking with it once left rows for every later test)."""

from __future__ import annotations

import threading
import time

import psycopg
from django.db import connection
from django.test import TransactionTestCase

from accounts.models import User
from conftest import require_service, uses_postgres
from messaging_platform.testing.processes import database_url


def test_the_emptying_deadlocked_by_another_writer_tries_again_and_empties_all(transactional_db, make_user):
    require_service("PostgreSQL", uses_postgres())
    make_user()
    tables = sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))
    dsn = database_url()
    holding, outcome = threading.Event(), {}

    def writer() -> None:
        # Holds the table TRUNCATE locks last, waits until TRUNCATE waits for it, then asks for the
        # table TRUNCATE locked first: a deadlock, which PostgreSQL breaks by ending the emptying.
        with psycopg.connect(dsn) as conn, psycopg.connect(dsn, autocommit=True) as watch:
            conn.execute(f'LOCK TABLE "{tables[-1]}" IN ROW EXCLUSIVE MODE')
            holding.set()
            deadline = time.monotonic() + 20
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            while not watch.execute(waiting).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            conn.execute(f'LOCK TABLE "{tables[0]}" IN ROW EXCLUSIVE MODE')
            outcome["committed"] = True

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    emptying = TransactionTestCase(methodName="__init__")
    emptying._fixture_teardown()
    thread.join(20)

    assert outcome == {"committed": True}
    assert not User.objects.exists()
