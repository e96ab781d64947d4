"""The series as PostgreSQL writes it (series.py) is the series Python builds (selectors._series),
byte for byte in the API's JSON and value for value in the report: every count, delivery rate,
median and 95th percentile time to delivered, over many periods, both intervals, ragged ends, live
slots beside rolled rows, and zones with clock changes (one at midnight, one skipping it) and a
half-hour offset; and the SQL rounding is Python's round() on every kind of value."""

import random
import struct
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.db import connection

from conftest import uses_postgres
from messaging.insights import selectors
from messaging.insights.api import InsightsRenderer, insights_document
from messaging.insights.models import COUNT_COLUMNS, LATENCY_BOUNDS, LATENCY_COLUMNS, InsightCount
from messaging.insights.selectors import GROUPS, insights_report
from messaging.insights.series import _rounded

from .test_series import histogram

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not uses_postgres(), reason="PostgreSQL computes the series"),
]

FIRST = datetime(2026, 8, 30, tzinfo=UTC)  # Santiago skips midnight on Sep 6, Havana repeats it on Nov 1
HOURS = 24 * 74
ZONES = ("UTC", "America/New_York", "America/Santiago", "America/Havana", "Asia/Kolkata")


def counts(rng: random.Random) -> dict[str, int]:
    """A row's figures: zeros, small counts (ties of the quantiles and rates), or large ones."""
    scale = rng.choice((0, 3, 20, 500, 2_000_000))
    values = {column: rng.randint(0, scale) for column in COUNT_COLUMNS if rng.random() < 0.85}
    shape = rng.randrange(5)
    if shape == 0:
        values.update(histogram(rng))
    elif shape == 1:  # a median or a 95th percentile at a tenth's half: 0.15 s, 2.25 s, …
        values.update({LATENCY_COLUMNS[rng.randrange(4)]: rng.choice((3, 17, 20, 40)), LATENCY_COLUMNS[0]: 1})
    elif shape == 2:
        values.update({column: rng.randint(0, scale) for column in LATENCY_COLUMNS})
    elif shape == 3:  # every delivery in the open-ended last bin, or beside it
        values.update({LATENCY_COLUMNS[-1]: rng.randint(1, 9), LATENCY_COLUMNS[-2]: rng.randint(0, 1)})
    return values


@pytest.fixture
def rows(workspace, other_workspace) -> None:
    """74 days of totals' rows (some hours empty, some in live slots beside the roll-up's), with
    a sender's rows and another workspace's beside them, which no series reads."""
    rng = random.Random(2026)
    made = []
    for i in range(HOURS):
        hour = FIRST + timedelta(hours=i)
        if rng.random() < 0.15:
            continue
        for slot in rng.sample((0, 3, 16), rng.choice((1, 1, 1, 2, 3))):
            made.append(InsightCount(workspace=workspace, bucket=hour, slot=slot, **counts(rng)))
        if rng.random() < 0.3:
            made.append(InsightCount(workspace=workspace, bucket=hour, dimension="sender", key="+1", sent=7))
            made.append(InsightCount(workspace=other_workspace, bucket=hour, sent=1000, lat_03=5))
    InsightCount.objects.bulk_create(made)


def the_python_way(monkeypatch):
    monkeypatch.setattr(selectors, "_computed_by_postgresql", lambda: False)


def periods(rng: random.Random):
    """Whole days, ragged starts and ends, a single hour, a period before the rows, and long ones."""
    yield FIRST, FIRST + timedelta(days=74), "day"
    yield FIRST - timedelta(days=30), FIRST - timedelta(days=1), "day"
    yield FIRST + timedelta(days=60, minutes=13), FIRST + timedelta(days=60, hours=1, minutes=1), "hour"
    yield FIRST - timedelta(hours=5), FIRST + timedelta(days=70, hours=3, minutes=20), "hour"
    for _ in range(6):
        start = FIRST + timedelta(minutes=rng.randrange(-3000, HOURS * 60))
        span = timedelta(minutes=rng.randrange(30, 60 * 24 * 20))
        yield start, start + span, rng.choice(("hour", "day"))


def test_postgresql_writes_the_series_python_builds(workspace, rows, monkeypatch):
    rng = random.Random(15)
    render = InsightsRenderer().render
    compared = 0
    for zone in ZONES:
        workspace.timezone = zone
        workspace.save(update_fields=["timezone"])
        for start, end, interval in periods(rng):
            group_by = rng.choice(GROUPS)
            asked = {
                "workspace": workspace,
                "start": start,
                "end": end,
                "interval": interval,
                "group_by": group_by,
            }
            new_document, new_report = insights_document(**asked), insights_report(**asked)
            with monkeypatch.context() as patched:
                the_python_way(patched)
                old_document, old_report = insights_document(**asked), insights_report(**asked)
            assert isinstance(new_document["series"], orjson.Fragment)
            assert isinstance(old_document["series"], list)
            assert render(new_document) == render(old_document), (zone, start, end, interval)
            assert new_report == old_report, (zone, start, end, interval)
            compared += len(old_report["series"])
    assert compared > 10_000


def test_the_figures_cover_every_kind_of_point(workspace, rows):
    """The dataset has what the comparison must meet: empty points, points without deliveries,
    quantiles inside bins, at a half tenth, and in the open-ended bin."""
    report = insights_report(
        workspace=workspace, start=FIRST, end=FIRST + timedelta(days=74), interval="hour", group_by="sender"
    )
    medians = [p["median_seconds_to_delivered"] for p in report["series"]]
    assert None in medians and float(LATENCY_BOUNDS[-1]) in medians
    assert any(m is not None and m != round(m) for m in medians)
    assert any(
        p["sent"] == 0 and p["delivered"] == 0 and p["delivery_rate"] is None for p in report["series"]
    )
    assert len({p["delivery_rate"] for p in report["series"]}) > 100


def test_an_indented_answer_has_the_same_figures(api_client, workspace, rows):
    params = {"from": "2026-09-01T00:00:00Z", "to": "2026-09-08T00:00:00Z", "interval": "hour"}
    plain = api_client.get("/api/insights", params)
    indented = api_client.get("/api/insights", params, HTTP_ACCEPT="application/json; indent=2")
    assert plain.status_code == indented.status_code == 200
    assert b"\n  " in indented.content and b"\n" not in plain.content
    assert orjson.loads(indented.content) == orjson.loads(plain.content)
    assert len(orjson.loads(plain.content)["series"]) == 24 * 7


def _neighbours(value: float) -> list[float]:
    bits = struct.unpack("<q", struct.pack("<d", value))[0]
    return [struct.unpack("<d", struct.pack("<q", bits + step))[0] for step in (-2, -1, 0, 1, 2)]


def test_the_sql_rounding_is_pythons_round():
    """Half to even on the double's exact value: ties (0.25, 2.75), the doubles nearest a
    half (0.15, 2.45, 0.00005) and their neighbours, quantile-shaped and random values."""
    rng = random.Random(7)
    values = []
    for k in range(3000):
        for near in (k / 20, k / 4, (k + 0.5) / 10, (k + 0.5) / 10_000, k / 40):
            values += _neighbours(near)
    for _ in range(20_000):
        values += [rng.uniform(0, 21600), rng.random(), rng.randint(0, 999) / rng.randint(1, 999)]
        seen, count = rng.randint(0, 50), rng.randint(1, 5000)
        values.append(rng.choice((1, 2, 3, 5, 15, 300)) * (0.95 * (seen + rng.randint(1, 50)) - seen) / count)
    values = [v for v in values if 0 <= v < 21600]
    with connection.cursor() as cursor:
        for digits in (1, 4):
            cursor.execute(f"SELECT x, {_rounded('x', digits)} FROM unnest(%s::float8[]) AS x", [values])
            wrong = [(x, n) for x, n in cursor.fetchall() if n / 10**digits != round(x, digits)]
            assert wrong == [], digits
