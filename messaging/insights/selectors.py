"""The delivery dashboard's figures, read from the counts (InsightCount): a handful of index range
scans of one workspace's rows, never a scan of its messages."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.db.models import BigIntegerField, QuerySet, Sum
from django.db.models.functions import Cast, TruncDay

from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import explain_error
from workspaces.models import Workspace

from .models import COUNT_COLUMNS, LATENCY_BOUNDS, LATENCY_COLUMNS, ROLLED_SLOT, Dimension, InsightCount

INTERVALS = ("hour", "day")
GROUPS = (Dimension.SENDER, Dimension.CARRIER, Dimension.COUNTRY, Dimension.ERROR_CODE)
BREAKDOWN_LIMIT = 50
TOP_ERRORS = 10
# Cast: PostgreSQL's SUM of a bigint is a numeric, which would come back as a Decimal, converted
# value by value (slower than the query over a long series).
_COLUMNS = (*COUNT_COLUMNS, *LATENCY_COLUMNS)
_BINS = len(COUNT_COLUMNS)  # where the latency bins start in _COLUMNS
_SUMS = {column: Cast(Sum(column), BigIntegerField()) for column in _COLUMNS}
_EMPTY = (0,) * len(_COLUMNS)
_KEYED = ("key", *_COLUMNS)  # a key's row of sums


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def bucket_start(moment: datetime, *, interval: str, zone: ZoneInfo) -> datetime:
    """The start of the hour (UTC) or of the day (in `zone`) that holds `moment`."""
    if interval == "hour":
        return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)


def _day_starts(start: datetime, end: datetime, *, zone: ZoneInfo) -> list[datetime]:
    """The starts of the zone's days from `start` (a day's start) while before `end`."""
    starts: list[datetime] = []
    day: date = start.astimezone(zone).date()
    while True:
        moment = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        if moment >= end:
            return starts
        starts.append(moment)
        day += timedelta(days=1)


def percentile(bins: Sequence[int], fraction: float) -> float | None:
    """The `fraction` quantile (seconds) of a latency histogram, interpolated inside its bin; the
    last bin (no upper bound) answers its lower bound. None when it is empty."""
    total = sum(bins)
    if total <= 0:
        return None
    return _quantile(bins, fraction * total)


def _quantile(bins: Sequence[int], target: float) -> float:
    seen = 0
    for index, count in enumerate(bins):
        if count > 0 and seen + count >= target:
            return _within(index, count, target - seen)
        seen += count
    return float(LATENCY_BOUNDS[-1])


def _within(index: int, count: int, into: float) -> float:
    """The time `into` deliveries deep in bin `index` (of `count`), interpolated."""
    lower = LATENCY_BOUNDS[index - 1] if index else 0
    if index == len(LATENCY_BOUNDS):
        return float(lower)
    upper = LATENCY_BOUNDS[index]
    return round(lower + (upper - lower) * into / count, 1)


# Each latency bin's lower bound and width (the last bin has no upper bound, so no width).
_LOWER = (0, *LATENCY_BOUNDS)
_WIDTH = (*(upper - lower for lower, upper in zip(_LOWER, LATENCY_BOUNDS, strict=False)), 0)
_LAST = len(LATENCY_BOUNDS)


def _point(start: Any, values: Sequence[int]) -> dict[str, Any]:
    """A series' point: its `start` and the figures of its row of sums in _COLUMNS' order.

    A long series makes thousands, so this is one pass with no call per figure: the median and
    the 95th percentile are found by bisection of the histogram's running totals (the first bin
    whose running total reaches the target, which then holds some deliveries) and interpolated
    in it as _within does, operation for operation."""
    sent, delivered, failed, undelivered, received, opt_outs = values[:_BINS]
    outcomes = delivered + failed + undelivered
    cumulative = list(accumulate(values[_BINS:]))
    total = cumulative[-1]
    median = p95 = None
    if total > 0:
        # 0.95 * total never exceeds total: both targets are reached within the bins.
        target = 0.5 * total
        index = bisect_left(cumulative, target)
        seen = cumulative[index - 1] if index else 0
        median = (
            float(_LOWER[index])
            if index == _LAST
            else round(_LOWER[index] + _WIDTH[index] * (target - seen) / (cumulative[index] - seen), 1)
        )
        target = 0.95 * total
        index = bisect_left(cumulative, target, index)
        seen = cumulative[index - 1] if index else 0
        p95 = (
            float(_LOWER[index])
            if index == _LAST
            else round(_LOWER[index] + _WIDTH[index] * (target - seen) / (cumulative[index] - seen), 1)
        )
    return {
        "start": start,
        "sent": sent,
        "delivered": delivered,
        "failed": failed,
        "undelivered": undelivered,
        "received": received,
        "opt_outs": opt_outs,
        "delivery_rate": round(delivered / outcomes, 4) if outcomes > 0 else None,
        "median_seconds_to_delivered": median,
        "p95_seconds_to_delivered": p95,
    }


def latency_quantiles(values: Sequence[int]) -> tuple[float | None, float | None]:
    """The median and the 95th percentile time to delivered of a row of sums in _COLUMNS' order,
    as its point shows them (what the roll-up stores of an hour's row)."""
    point = _point(None, values)
    return point["median_seconds_to_delivered"], point["p95_seconds_to_delivered"]


def _figures(values: Sequence[int]) -> dict[str, Any]:
    """The figures of one row of sums in _COLUMNS' order."""
    figures = _point(None, values)
    del figures["start"]
    return figures


def figures(row: Mapping[str, int | None]) -> dict[str, Any]:
    """The counts of a row of sums, with the delivery rate (delivered among messages whose
    outcome is known) and the median and 95th percentile time to delivered."""
    return _figures([int(row.get(column) or 0) for column in _COLUMNS])


def _labels(workspace: Workspace, group_by: str, keys: Iterable[str]) -> dict[str, str]:
    keys = [k for k in keys if k]
    if group_by == Dimension.SENDER:
        names = PhoneNumber.objects.for_workspace(workspace).filter(phone_number__in=keys)
        return {
            number: f"{name} ({number})"
            for number, name in names.values_list("phone_number", "friendly_name")
            if name
        }
    if group_by == Dimension.CARRIER:
        accounts = ProviderAccount.objects.filter(workspace=workspace, uid__in=keys)
        return {
            uid: f"{name or provider.title()} ({provider})"
            for uid, name, provider in accounts.values_list("uid", "name", "provider")
        }
    return {}


def _error(key: str, row: Mapping[str, int | None]) -> dict[str, Any]:
    provider, _, code = key.partition(":")
    explained = explain_error(provider, code)
    failed, undelivered = int(row.get("failed") or 0), int(row.get("undelivered") or 0)
    return {
        "code": code,
        "provider": provider or None,
        "count": failed + undelivered,
        "failed": failed,
        "undelivered": undelivered,
        "meaning": explained[0] if explained else None,
        "fix": explained[1] if explained else None,
    }


def _period_sql(start: datetime, end: datetime) -> tuple[str, list[Any]]:
    """The condition of the rows whose sum is [start, end): the UTC days wholly inside it, and
    the hours of its ragged ends."""
    adapt = connection.ops.adapt_datetimefield_value
    first_day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if first_day < start:
        first_day += timedelta(days=1)
    last_day = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = "(daily = %s AND bucket >= %s AND bucket < %s)"
    if first_day >= last_day:
        return hours, [False, adapt(start), adapt(end)]
    return (
        f"{hours} OR {hours} OR {hours}",
        [
            *(True, adapt(first_day), adapt(last_day)),
            *(False, adapt(start), adapt(first_day)),
            *(False, adapt(last_day), adapt(end)),
        ],
    )


@cache
def _key_sums_sql(vendor: str, period: str) -> str:
    kind = "bigint" if vendor == "postgresql" else "integer"
    return (
        f"SELECT dimension, key, {', '.join(f'CAST(SUM({c}) AS {kind})' for c in _COLUMNS)} "  # noqa: S608
        f"FROM {_TABLE} WHERE workspace_id = %s AND dimension IN (%s, %s) AND ({period}) "
        f"GROUP BY dimension, key"
    )


def _key_sums(workspace: Workspace, start: datetime, end: datetime, group_by: str) -> list[tuple[Any, ...]]:
    """(dimension, key, sums in _COLUMNS' order) of each key of `group_by` and of the error codes
    over [start, end), in one statement."""
    period, params = _period_sql(start, end)
    with connection.cursor() as cursor:
        cursor.execute(
            _key_sums_sql(connection.vendor, period), [workspace.pk, group_by, Dimension.ERROR_CODE, *params]
        )
        return cursor.fetchall()


def as_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive: the text below is UTC, with its own "Z")
_HOURS = tuple(f"T{hour:02d}:00:00Z" for hour in range(24))


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).date().isoformat()


def as_text(epoch: int) -> str:
    """The API's timestamp of a bucket's start: ISO 8601 UTC, `2026-12-01T08:00:00Z`. A series
    has thousands: a whole hour is its day's text (made once) and the hour's."""
    day, seconds = divmod(epoch, 86400)
    hour, rest = divmod(seconds, 3600)
    if rest:
        return (_EPOCH + timedelta(seconds=epoch)).isoformat() + "Z"
    return _day_text(day) + _HOURS[hour]


_TABLE = InsightCount._meta.db_table
_READY = f"slot = {ROLLED_SLOT} AND figured"  # one row of the hour, its figures stored


@cache
def _hour_rows_sql(vendor: str, *, bins: bool) -> str:
    """The totals' rows of a period's hours: the hour (Unix seconds: an integer loads in C, where
    a timestamptz takes a Python loader), its counts, its stored median and 95th percentile, and
    but for a rolled row with its figures (or always, with `bins`) its latency bins as text."""
    if vendor == "postgresql":
        epoch = "CAST(EXTRACT(EPOCH FROM bucket) AS bigint)"
    else:
        epoch = "CAST(strftime('%%s', bucket) AS integer)"
    text = " || ',' || ".join(LATENCY_COLUMNS)
    return (
        f"SELECT {epoch}, {', '.join(COUNT_COLUMNS)}, median_seconds, p95_seconds, "  # noqa: S608
        f"{text if bins else f'CASE WHEN {_READY} THEN NULL ELSE {text} END'} "
        f"FROM {_TABLE} WHERE workspace_id = %s AND NOT daily AND dimension = '' "
        f"AND bucket >= %s AND bucket < %s"
    )


@cache
def _hour_sums_sql(vendor: str) -> str:
    """The period's sums of those rows (bigints: PostgreSQL's SUM of a bigint is a numeric)."""
    kind = "bigint" if vendor == "postgresql" else "integer"
    return (
        f"SELECT {', '.join(f'CAST(SUM({c}) AS {kind})' for c in _COLUMNS)} FROM {_TABLE} "  # noqa: S608
        f"WHERE workspace_id = %s AND NOT daily AND dimension = '' AND bucket >= %s AND bucket < %s"
    )


def _hour_series(
    workspace: Workspace, start: datetime, end: datetime, *, stamp: Callable[[int], Any]
) -> tuple[list[dict[str, Any]], Sequence[int]]:
    """The series by hour and the period's sums. A rolled hour with its figures stored is one row
    whose point is its counts and its figures (no walk of its bins: a long series has thousands);
    any other hour's rows (live slots, a late count beside the rolled row, a row without its
    figures) are summed and their point made of the sums (_point)."""
    adapt = connection.ops.adapt_datetimefield_value
    vendor = connection.vendor
    points: dict[int, dict[str, Any]] = {}
    summed: dict[int, list[Sequence[int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_hour_rows_sql(vendor, bins=False), [workspace.pk, adapt(start), adapt(end)])
        for row in cursor.fetchall():
            epoch, sent, delivered, failed, undelivered, received, opt_outs, median, p95, bins = row
            if bins is None:
                outcomes = delivered + failed + undelivered
                points[epoch] = {
                    "start": stamp(epoch),
                    "sent": sent,
                    "delivered": delivered,
                    "failed": failed,
                    "undelivered": undelivered,
                    "received": received,
                    "opt_outs": opt_outs,
                    "delivery_rate": round(delivered / outcomes, 4) if outcomes > 0 else None,
                    "median_seconds_to_delivered": median,
                    "p95_seconds_to_delivered": p95,
                }
            else:
                counts = (sent, delivered, failed, undelivered, received, opt_outs)
                summed.setdefault(epoch, []).append((*counts, *map(int, bins.split(","))))
        for epoch in [epoch for epoch in summed if epoch in points]:
            # Counted into since its roll-up: every row of the hour again, with its bins.
            hour = datetime.fromtimestamp(epoch, UTC)
            cursor.execute(
                _hour_rows_sql(vendor, bins=True),
                [workspace.pk, adapt(hour), adapt(hour + timedelta(hours=1))],
            )
            summed[epoch] = [(*r[1 : 1 + _BINS], *map(int, r[-1].split(","))) for r in cursor.fetchall()]
        cursor.execute(_hour_sums_sql(vendor), [workspace.pk, adapt(start), adapt(end)])
        total = [value or 0 for value in cursor.fetchone()]
    for epoch, rows in summed.items():
        sums = rows[0] if len(rows) == 1 else [sum(column) for column in zip(*rows, strict=True)]
        points[epoch] = _point(stamp(epoch), sums)
    empty = _figures(_EMPTY)
    # Every hour from start (a whole hour) while before end.
    series = [
        points.get(moment) or {"start": stamp(moment), **empty}
        for moment in range(int(start.timestamp()), math.ceil(end.timestamp()), 3600)
    ]
    return series, total


def _series(
    counts: QuerySet[InsightCount],
    start: datetime,
    end: datetime,
    *,
    zone: ZoneInfo,
    stamp: Callable[[int], Any],
) -> tuple[list[dict[str, Any]], Sequence[int]]:
    """The series by day (each bucket's start as `stamp` makes it of its Unix time) and the
    period's sums, from the totals' rows, which PostgreSQL sums into the zone's days."""
    rows = counts.filter(daily=False, dimension=Dimension.TOTAL, bucket__gte=start, bucket__lt=end)
    by_start: dict[int, Sequence[int]] = {}
    days = rows.annotate(t=TruncDay("bucket", tzinfo=zone)).values("t").annotate(**_SUMS).order_by()
    for row in days.values_list("t", *_SUMS):
        by_start[int(row[0].timestamp())] = row[1:]
    empty = _figures(_EMPTY)
    series = []
    for moment in _day_starts(start, end, zone=zone):
        epoch = int(moment.timestamp())
        values = by_start.get(epoch)
        series.append({"start": stamp(epoch), **empty} if values is None else _point(stamp(epoch), values))
    total = [sum(column) for column in zip(*by_start.values(), strict=True)] if by_start else _EMPTY
    return series, total


def insights_report(
    *,
    workspace: Workspace,
    start: datetime,
    end: datetime,
    interval: str,
    group_by: str,
    stamp: Callable[[int], Any] = as_datetime,
) -> dict[str, Any]:
    """Series over [start, end) by hour or by day (days in the workspace's zone; `start` goes back
    to its bucket's start), their totals, the breakdown by `group_by` over the whole period and
    the top error codes with what they mean and what to do. Each point's `start` is a datetime,
    or what `stamp` makes of its Unix time (as_text: the API's)."""
    zone = workspace_zone(workspace)
    start = bucket_start(start, interval=interval, zone=zone)
    counts = InsightCount.objects.for_workspace(workspace)
    if interval == "hour":
        series, total = _hour_series(workspace, start, end, stamp=stamp)
    else:
        series, total = _series(counts, start, end, zone=zone, stamp=stamp)

    sums = _key_sums(workspace, start, end, group_by)
    grouped = [dict(zip(_KEYED, row[1:], strict=True)) for row in sums if row[0] == group_by]
    grouped.sort(key=lambda r: (-(r["sent"] + r["failed"] + r["received"] + r["opt_outs"]), r["key"]))
    grouped = grouped[:BREAKDOWN_LIMIT]
    labels = _labels(workspace, group_by, (r["key"] for r in grouped))
    breakdown = []
    for row in grouped:
        entry = {"key": row["key"], "label": labels.get(row["key"]) or row["key"] or None, **figures(row)}
        if group_by == Dimension.ERROR_CODE:
            entry["error"] = _error(row["key"], row)
            entry["key"] = row["key"].partition(":")[2]
        breakdown.append(entry)

    errors = [dict(zip(_KEYED, row[1:], strict=True)) for row in sums if row[0] == Dimension.ERROR_CODE]
    top = sorted(
        (_error(r["key"], r) for r in errors), key=lambda e: (-e["count"], e["code"], e["provider"] or "")
    )
    return {
        "from": start,
        "to": end,
        "interval": interval,
        "timezone": str(zone),
        "group_by": group_by,
        "totals": _figures(total),
        "series": series,
        "breakdown": breakdown,
        "top_errors": [e for e in top if e["count"] > 0][:TOP_ERRORS],
    }
