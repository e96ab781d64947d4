"""The roll-up of finished hours' counts: one row per hour, day and key, the same figures as
counting the messages, beside the lifecycle writing new counts, and under the embedded beat."""

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from conftest import require_service, uses_postgres
from messaging import lifecycle
from messaging.insights.counting import ADVISORY_LOCK_CLASS
from messaging.insights.models import ROLLED_SLOT, InsightCount
from messaging.insights.rollup import insights_rollup
from messaging.insights.selectors import GROUPS, insights_report
from messaging.lifecycle import Sent, StatusReport
from messaging.models import Message, MessageEvent, Status
from messaging_platform.testing.processes import BASE_DIR, wait_until

from .traffic import GB, OTHER_SENDER, counts, make, move_a_day_of_traffic

pytestmark = pytest.mark.django_db
needs_postgres = pytest.mark.skipif(not uses_postgres(), reason="PostgreSQL's row and advisory locks")


@contextmanager
def another_worker_holding_slot(slot: int):
    """An open transaction elsewhere holding a slot's lock: counting here takes the next slot."""
    import psycopg

    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")},
        autocommit=False,
    ) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, slot])
        yield
        other.rollback()


def reports(workspace, start: datetime, end: datetime) -> list[dict]:
    return [
        insights_report(workspace=workspace, start=start, end=end, interval=interval, group_by=group_by)
        for interval in ("hour", "day")
        for group_by in GROUPS
    ]


def slots(workspace, **filters) -> set[int]:
    return set(InsightCount.objects.filter(workspace=workspace, **filters).values_list("slot", flat=True))


@needs_postgres
def test_finished_hours_are_folded_into_one_row_each_and_every_figure_stays(workspace, accounts, clock):
    start = clock["now"]
    with another_worker_holding_slot(0):
        move_a_day_of_traffic(workspace, clock, tag="a")  # slot 1
    clock["now"] = start
    move_a_day_of_traffic(workspace, clock, tag="b")  # slot 0: every hour in two slots
    assert slots(workspace) == {0, 1}
    period = (datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    before, answers = counts(workspace), reports(workspace, *period)

    clock["now"] = start + timedelta(hours=3, minutes=10)  # 12:00 is the current hour
    folded = insights_rollup()
    assert folded > 0
    assert counts(workspace) == before and reports(workspace, *period) == answers
    assert slots(workspace, daily=False, bucket__lt=datetime(2026, 11, 30, 12, tzinfo=UTC)) == {ROLLED_SLOT}
    assert slots(workspace, daily=False, bucket=datetime(2026, 11, 30, 12, tzinfo=UTC)) == {0, 1}
    assert slots(workspace, daily=True) == {0, 1}  # the day is not over
    # One row per finished hour and key, where there were two.
    hour_nine = InsightCount.objects.filter(
        workspace=workspace, daily=False, bucket=datetime(2026, 11, 30, 9, tzinfo=UTC)
    )
    assert hour_nine.count() == len({(r.dimension, r.key) for r in hour_nine})
    assert insights_rollup() == 0  # nothing more to do

    clock["now"] = datetime(2026, 12, 1, 0, 10, tzinfo=UTC)  # the day is over
    insights_rollup(batch_size=3)  # in batches
    assert slots(workspace) == {ROLLED_SLOT}
    assert counts(workspace) == before and reports(workspace, *period) == answers
    # What the rebuild recounts from the messages themselves.
    call_command("insights_rebuild", "--workspace", workspace.pk, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert counts(workspace) == before


def test_a_late_count_into_a_rolled_hour_is_added_to_it(workspace, accounts, clock):
    move_a_day_of_traffic(workspace, clock)
    clock["now"] = datetime(2026, 12, 2, tzinfo=UTC)
    insights_rollup()
    nine = datetime(2026, 11, 30, 9, tzinfo=UTC)
    total = InsightCount.objects.get(workspace=workspace, daily=False, bucket=nine, dimension="")
    # A message sent then (as a worker that took long to write it back would count it).
    [late] = make(workspace, created_at=nine)
    clock["now"] = nine + timedelta(minutes=30)
    lifecycle.messages_mark_sent([Sent(late.id, "SMlate")])
    clock["now"] = datetime(2026, 12, 2, tzinfo=UTC)
    assert slots(workspace, daily=False, bucket=nine) == {0, ROLLED_SLOT}
    insights_rollup()
    assert (
        InsightCount.objects.get(workspace=workspace, daily=False, bucket=nine, dimension="").sent
        == total.sent + 1
    )
    assert slots(workspace) == {ROLLED_SLOT}


def events_by_local_day(workspace, zone: ZoneInfo, status: str) -> dict[date, int]:
    found: dict[date, int] = {}
    for at in MessageEvent.objects.filter(message__workspace=workspace, status=status).values_list(
        "created_at", flat=True
    ):
        day = at.astimezone(zone).date()
        found[day] = found.get(day, 0) + 1
    return found


def test_days_follow_the_workspaces_zone_across_a_clock_change_after_the_roll_up(workspace, accounts, clock):
    """New York: 1 November 2026 is 25 hours long (04:00 UTC to 05:00 UTC the next day)."""
    workspace.timezone = "America/New_York"
    workspace.save()
    zone = ZoneInfo("America/New_York")
    sends = [
        datetime(2026, 10, 31, 3, 59, tzinfo=UTC),  # 23:59 on Oct 30 in New York
        datetime(2026, 10, 31, 4, 0, tzinfo=UTC),  # midnight, Oct 31
        datetime(2026, 11, 1, 4, 30, tzinfo=UTC),  # 00:30 EDT, Nov 1
        datetime(2026, 11, 2, 4, 30, tzinfo=UTC),  # 23:30 EST, still Nov 1
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),  # midnight EST, Nov 2
        datetime(2026, 11, 2, 23, 0, tzinfo=UTC),
    ]  # 18:00, Nov 2 (a UTC day later)
    for i, at in enumerate(sends):
        clock["now"] = at
        messages = make(
            workspace,
            n=i + 1,
            to=GB if i % 2 else "+14155552671",
            sender=OTHER_SENDER if i % 3 else "+12015550123",
        )
        lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in messages])
    clock["now"] = datetime(2026, 11, 10, tzinfo=UTC)
    assert insights_rollup() > 0 and slots(workspace) == {ROLLED_SLOT}
    expected = events_by_local_day(workspace, zone, Status.SENT)
    assert expected == {
        date(2026, 10, 30): 1,
        date(2026, 10, 31): 2,
        date(2026, 11, 1): 7,
        date(2026, 11, 2): 11,
    }
    start, end = datetime(2026, 10, 30, tzinfo=zone), datetime(2026, 11, 3, tzinfo=zone)
    for group_by in GROUPS:
        report = insights_report(workspace=workspace, start=start, end=end, interval="day", group_by=group_by)
        assert {p["start"].astimezone(zone).date(): p["sent"] for p in report["series"]} == expected
        assert [p["start"].astimezone(zone).hour for p in report["series"]] == [0, 0, 0, 0]
        if group_by != "error_code":  # over whole UTC days and the ragged hours at both ends
            assert sum(r["sent"] for r in report["breakdown"]) == 21 == report["totals"]["sent"]
    # One local day's breakdown (its ragged UTC hours and whole UTC days): that day's messages.
    day = insights_report(
        workspace=workspace,
        start=datetime(2026, 11, 1, tzinfo=zone),
        end=datetime(2026, 11, 2, tzinfo=zone),
        interval="day",
        group_by="sender",
    )
    assert day["totals"]["sent"] == 7 and sum(r["sent"] for r in day["breakdown"]) == 7
    by_hour = insights_report(
        workspace=workspace,
        start=datetime(2026, 11, 1, tzinfo=zone),
        end=datetime(2026, 11, 2, tzinfo=zone),
        interval="hour",
        group_by="country",
    )
    assert len(by_hour["series"]) == 25 and by_hour["totals"]["sent"] == 7
    assert sum(r["sent"] for r in by_hour["breakdown"]) == 7


def test_the_roll_up_is_in_the_beat_schedule_and_the_embedded_beat_finds_every_task():
    entry = settings.CELERY_BEAT_SCHEDULE["insights-rollup"]
    assert entry["task"] == "messaging.insights.tasks.rollup_insights"
    # In a fresh process, as the server's embedded beat starts: every scheduled task is found.
    script = (
        "import django, json; django.setup(); from celery import current_app; "
        "from django.conf import settings; "
        "from messaging_platform.embedded_beat import register_tasks; register_tasks(); "
        "print(json.dumps(sorted(e['task'] for e in "
        "settings.CELERY_BEAT_SCHEDULE.values() if e['task'] not in current_app.tasks)))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
        "DEBUG": "true",
        "SECRET_KEY": settings.SECRET_KEY,
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# Beside the lifecycle ---------------------------------------------------------------------------


def in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_being_counted_into_is_left_for_the_next_run_without_waiting(workspace, accounts):
    counting, finish = threading.Event(), threading.Event()
    [held] = make(workspace)
    [other] = make(workspace, sender=OTHER_SENDER)
    lifecycle.messages_mark_sent([Sent(other.id, "SMother")])

    def open_transaction():
        with transaction.atomic():
            lifecycle.messages_mark_sent([Sent(held.id, "SMheld")])
            counting.set()
            finish.wait(30)

    thread = in_thread(open_transaction)
    assert counting.wait(10)
    later = timezone.now() + timedelta(hours=2)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")  # a wait on the open transaction would fail here
    insights_rollup(now=later)
    # Only the other transaction's rows were folded; the open one's slot rows are still there.
    assert len(slots(workspace, daily=False)) == 2
    finish.set()
    thread.join(10)
    insights_rollup(now=later)
    assert slots(workspace, daily=False) == {ROLLED_SLOT}
    assert InsightCount.objects.get(workspace=workspace, daily=False, dimension="").sent == 2


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_roll_up_while_messages_change_status_loses_and_doubles_nothing(workspace, accounts):
    messages = make(workspace, n=240) + make(workspace, to=GB, sender=OTHER_SENDER, n=120)
    done = threading.Event()
    failures: list[BaseException] = []

    def change_statuses():
        try:
            for i in range(0, len(messages), 12):
                batch = messages[i : i + 12]
                with transaction.atomic():
                    lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in batch])
                with transaction.atomic():
                    lifecycle.messages_apply_statuses(
                        [
                            StatusReport(m.id, Status.DELIVERED)
                            if j % 5
                            else StatusReport(m.id, Status.UNDELIVERED, "30003", "Unreachable")
                            for j, m in enumerate(batch)
                        ]
                    )
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)
        finally:
            done.set()

    def roll_up():
        # Every hour counts as finished: the roll-up folds the very rows the workers count into.
        try:
            while not done.is_set():
                insights_rollup(now=timezone.now() + timedelta(hours=2), batch_size=7)
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    threads = [in_thread(change_statuses), in_thread(roll_up), in_thread(roll_up)]
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    insights_rollup(now=timezone.now() + timedelta(hours=2))
    live = counts(workspace)
    total = InsightCount.objects.get(workspace=workspace, daily=False, dimension="")
    assert (total.sent, total.delivered, total.undelivered) == (360, 270, 90)
    assert total.slot == ROLLED_SLOT
    assert Message.objects.filter(workspace=workspace, status=Status.DELIVERED).count() == 270
    call_command("insights_rebuild", "--workspace", workspace.pk, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert counts(workspace) == live


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_embedded_beat_of_make_run_rolls_finished_hours_up(workspace):
    from messaging_platform.testing.live_server import LiveServer

    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())  # the server must see these rows
    hour = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    for slot, sent in ((0, 5), (3, 7)):
        InsightCount.objects.create(workspace=workspace, bucket=hour, slot=slot, sent=sent)
    server = LiveServer(env={"EMBEDDED_BEAT": "true", "INSIGHTS_ROLLUP_INTERVAL_SECONDS": "1"}).start()
    try:
        wait_until(
            lambda: slots(workspace) == {ROLLED_SLOT},
            timeout=30,
            what=f"the hour rolled up by the server; its log:\n{server.log()}",
        )
    finally:
        server.stop()
    assert InsightCount.objects.get(workspace=workspace).sent == 12
