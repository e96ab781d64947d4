"""The insights API's series over many buckets: each point is exactly what its hour's (or day's)
counter rows say, its median and 95th percentile those of its latency histogram walked bin by bin
(selectors.percentile), whatever the histogram's shape, in both intervals and in a zone with a
clock change."""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from messaging.insights.models import COUNT_COLUMNS, LATENCY_COLUMNS, InsightCount
from messaging.insights.selectors import percentile

pytestmark = pytest.mark.django_db

START = datetime(2026, 10, 30, 0, tzinfo=UTC)  # America/New_York leaves summer time on Nov 1
HOURS = 24 * 6


def histogram(rng: random.Random) -> dict[str, int]:
    """Latency bins of many shapes: empty, one bin, a few, spread, with the open-ended last bin."""
    shape = rng.randrange(7)
    if shape == 0:
        return {}
    if shape == 5:  # the median exactly at a bin's end, empty bins after it
        return {LATENCY_COLUMNS[0]: 5, LATENCY_COLUMNS[5]: 5}
    if shape == 6:  # the 95th percentile exactly at a bin's end
        return {LATENCY_COLUMNS[2]: 19, LATENCY_COLUMNS[9]: 1}
    if shape == 1:
        return {rng.choice(LATENCY_COLUMNS): rng.randint(1, 9)}
    if shape == 2:
        return {LATENCY_COLUMNS[-1]: rng.randint(1, 3), LATENCY_COLUMNS[0]: rng.randint(0, 40)}
    picked = rng.sample(LATENCY_COLUMNS, rng.randint(2, len(LATENCY_COLUMNS)))
    return {column: rng.randint(0, 500) for column in picked}


@pytest.fixture
def hours(workspace) -> dict[datetime, dict[str, int]]:
    """Six days of totals' rows, some hours empty, some in two slots (a worker's, the roll-up's);
    answers each hour's sums."""
    rng = random.Random(15)
    sums: dict[datetime, dict[str, int]] = {}
    rows = []
    for i in range(HOURS):
        hour = START + timedelta(hours=i)
        if rng.random() < 0.2:
            continue
        for slot in range(rng.choice((1, 1, 2))):
            values = {column: rng.randint(0, 60) for column in COUNT_COLUMNS if rng.random() < 0.8}
            values.update(histogram(rng))
            rows.append(InsightCount(workspace=workspace, bucket=hour, slot=slot * 16, **values))
            hour_sums = sums.setdefault(hour, {})
            for column, n in values.items():
                hour_sums[column] = hour_sums.get(column, 0) + n
    InsightCount.objects.bulk_create(rows)
    return sums


def expected(start: str, sums: dict[str, int]) -> dict:
    counts = {column: sums.get(column, 0) for column in COUNT_COLUMNS}
    bins = [sums.get(column, 0) for column in LATENCY_COLUMNS]
    outcomes = counts["delivered"] + counts["failed"] + counts["undelivered"]
    return {
        "start": start,
        **counts,
        "delivery_rate": round(counts["delivered"] / outcomes, 4) if outcomes else None,
        "median_seconds_to_delivered": percentile(bins, 0.5),
        "p95_seconds_to_delivered": percentile(bins, 0.95),
    }


def added(*rows: dict[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for row in rows:
        for column, n in row.items():
            total[column] = total.get(column, 0) + n
    return total


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_hour_is_its_rows_sums_with_its_histograms_quantiles(hours, api_client):
    end = START + timedelta(hours=HOURS)
    body = api_client.get(
        "/api/insights", {"from": stamp(START), "to": stamp(end), "interval": "hour"}
    ).json()
    assert body["series"] == [
        expected(stamp(START + timedelta(hours=i)), hours.get(START + timedelta(hours=i), {}))
        for i in range(HOURS)
    ]
    totals = expected("", added(*hours.values()))
    del totals["start"]
    assert body["totals"] == totals
    # A period that ends inside an hour still has that hour's point.
    body = api_client.get(
        "/api/insights", {"from": stamp(START), "to": stamp(START + timedelta(hours=3, minutes=20))}
    ).json()
    assert [p["start"] for p in body["series"]] == [stamp(START + timedelta(hours=i)) for i in range(4)]


def test_every_day_of_the_zone_sums_its_hours_across_the_clock_change(hours, api_client, workspace):
    zone = ZoneInfo("America/New_York")
    workspace.timezone = "America/New_York"
    workspace.save(update_fields=["timezone"])
    body = api_client.get(
        "/api/insights", {"from": "2026-10-30", "to": "2026-11-05", "interval": "day"}
    ).json()
    days = [date(2026, 10, 30) + timedelta(days=i) for i in range(6)]
    assert body["series"] == [
        expected(
            stamp(datetime.combine(day, datetime.min.time(), tzinfo=zone)),
            added(*(sums for hour, sums in hours.items() if hour.astimezone(zone).date() == day)),
        )
        for day in days
    ]
