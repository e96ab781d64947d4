"""A series by hour reads the median and 95th percentile the roll-up (and the rebuild) store of
each finished hour of the totals, and answers exactly what computing every hour from its rows'
summed bins answers: whatever the mix of rolled hours, hours counted into since their roll-up,
the current hour's live slots, rows rolled up before the figures were stored and empty hours, in
every grouping, for periods given in several zones."""

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from messaging import lifecycle
from messaging.insights.api import insights_document, insights_params
from messaging.insights.models import COUNT_COLUMNS, LATENCY_COLUMNS, ROLLED_SLOT, InsightCount
from messaging.insights.rollup import insights_rollup
from messaging.insights.selectors import GROUPS, as_text, figures
from messaging.lifecycle import Sent

from .traffic import make, move_a_day_of_traffic

pytestmark = pytest.mark.django_db

START = datetime(2026, 10, 30, tzinfo=UTC)
HOURS = 24 * 4
NOW = START + timedelta(hours=HOURS, minutes=25)  # the current hour: live slots only
SENDERS = ("+12015550123", "+12015550999")
CODES = ("twilio:30003", "telnyx:40008")


def values(rng: random.Random) -> dict[str, int]:
    """A row's counts and latency bins, of many shapes: none timed, one bin, the open-ended last
    bin, a median on a bin's edge, spread."""
    row = {column: rng.randint(0, 40) for column in COUNT_COLUMNS if rng.random() < 0.8}
    shape = rng.randrange(6)
    if shape == 1:
        row[rng.choice(LATENCY_COLUMNS)] = rng.randint(1, 9)
    elif shape == 2:
        row.update({LATENCY_COLUMNS[-1]: rng.randint(1, 3), LATENCY_COLUMNS[0]: rng.randint(0, 30)})
    elif shape == 3:
        row.update({LATENCY_COLUMNS[0]: 5, LATENCY_COLUMNS[5]: 5})
    elif shape >= 4:
        row.update(
            {column: rng.randint(0, 300) for column in rng.sample(LATENCY_COLUMNS, rng.randint(2, 12))}
        )
    return row


def counter_rows(workspace, rng: random.Random, hour: datetime, slots: range) -> list[InsightCount]:
    """An hour's rows in these slots: the totals', and a sender's and an error code's."""
    rows = []
    for slot in slots:
        keys = [("", ""), ("sender", rng.choice(SENDERS)), ("error_code", rng.choice(CODES))]
        for dimension, key in keys:
            rows.append(
                InsightCount(
                    workspace=workspace, bucket=hour, dimension=dimension, key=key, slot=slot, **values(rng)
                )
            )
    return rows


def hour_sums(workspace) -> dict[int, list[int]]:
    """Each hour's rows of the totals, summed (every slot), in the selectors' column order."""
    sums: dict[int, list[int]] = defaultdict(lambda: [0] * (len(COUNT_COLUMNS) + len(LATENCY_COLUMNS)))
    for row in InsightCount.objects.filter(workspace=workspace, daily=False, dimension="").values():
        hour = sums[int(row["bucket"].timestamp())]
        for i, column in enumerate((*COUNT_COLUMNS, *LATENCY_COLUMNS)):
            hour[i] += row[column]
    return sums


PERIODS = (
    # (the workspace's zone, from, to): no offset is the zone's time; ends inside the current hour.
    ("UTC", START.isoformat(), NOW.isoformat()),
    ("Asia/Kolkata", "2026-10-30T07:40:00", "2026-11-03T05:55:00"),  # half-hour offset
    (
        "America/New_York",
        "2026-10-31T22:10:00",
        (NOW - timedelta(minutes=3)).isoformat(),
    ),  # Nov 1 clock change
    ("America/New_York", "2026-11-01T00:00:00", "2026-11-01T03:00:00"),
)


def documents(workspace, periods=PERIODS) -> list[dict]:
    answers = []
    for zone, start, end in periods:
        workspace.timezone = zone
        workspace.save(update_fields=["timezone"])
        for group_by in GROUPS:
            params = insights_params(
                {"from": start, "to": end, "interval": "hour", "group_by": group_by}, workspace
            )
            answers.append(insights_document(workspace=workspace, **params))
    return answers


def figured_hours(workspace) -> int:
    return InsightCount.objects.filter(workspace=workspace, slot=ROLLED_SLOT, figured=True).count()


def test_stored_figures_answer_what_the_summed_bins_answer(workspace):
    rng = random.Random(2026)
    rows, late, unfigured = [], [], []
    for i in range(HOURS + 1):
        hour = START + timedelta(hours=i)
        kind = rng.choice(("empty", "rolled", "rolled", "rolled", "late", "before"))
        if i == HOURS:
            kind = "current"
        if kind in ("rolled", "late", "current"):
            rows += counter_rows(workspace, rng, hour, range(rng.randint(1, 3)))
        if kind == "late":  # counted into after its roll-up (an inbound message filed late)
            late += counter_rows(workspace, rng, hour, range(5, 5 + rng.randint(1, 2)))
        if kind == "before":  # rolled up before its figures were stored
            unfigured += counter_rows(workspace, rng, hour, range(ROLLED_SLOT, ROLLED_SLOT + 1))
    InsightCount.objects.bulk_create(rows)
    assert insights_rollup(now=NOW) > 0
    InsightCount.objects.bulk_create(late + unfigured)
    assert figured_hours(workspace) > HOURS // 3

    answers = documents(workspace)
    # The same answers, whole, from every hour's bins (the computation before figures were stored).
    InsightCount.objects.update(figured=False, median_seconds=None, p95_seconds=None)
    assert documents(workspace) == answers

    # And each point is its hour's rows summed.
    sums = hour_sums(workspace)
    empty = [0] * (len(COUNT_COLUMNS) + len(LATENCY_COLUMNS))
    columns = (*COUNT_COLUMNS, *LATENCY_COLUMNS)
    for answer in answers:
        first = int(datetime.fromisoformat(answer["from"]).timestamp())
        hours = range(first, math.ceil(datetime.fromisoformat(answer["to"]).timestamp()), 3600)
        assert answer["series"] == [
            {"start": as_text(h), **figures(dict(zip(columns, sums.get(h, empty), strict=True)))}
            for h in hours
        ]
        period = [sum(column) for column in zip(*(sums[h] for h in hours if h in sums), strict=True)]
        assert answer["totals"] == figures(dict(zip(columns, period, strict=True)))
    assert any(p["median_seconds_to_delivered"] is not None for a in answers for p in a["series"])
    assert any(p["sent"] == 0 and p["median_seconds_to_delivered"] is None for p in answers[0]["series"])


TRAFFIC = (  # around the clock fixture's 2026-11-30 09:50 UTC
    ("UTC", "2026-11-30T00:00:00Z", "2026-11-30T16:00:00Z"),
    ("Asia/Kolkata", "2026-11-30T14:10:00", "2026-11-30T20:45:00"),
)


def test_the_roll_up_and_the_rebuild_store_the_figures_of_the_counts_they_leave(workspace, accounts, clock):
    move_a_day_of_traffic(workspace, clock)
    messages = make(workspace, n=2)
    lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in messages])
    live = documents(workspace, TRAFFIC)
    assert figured_hours(workspace) == 0

    clock["now"] = timezone.now() + timedelta(hours=2)
    insights_rollup()
    assert figured_hours(workspace) > 0
    assert documents(workspace, TRAFFIC) == live

    call_command("insights_rebuild", "--workspace", workspace.pk, stdout=open("/dev/null", "w"))  # noqa: SIM115
    totals = InsightCount.objects.filter(workspace=workspace, daily=False, dimension="")
    assert totals.exists() and not totals.filter(figured=False).exists()
    assert documents(workspace, TRAFFIC) == live
