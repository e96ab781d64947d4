"""The delivery dashboard's figures, read from the counts (InsightCount): a handful of index range
scans of one workspace's rows, never a scan of its messages."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from operator import add
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.db.models import BigIntegerField, F, Q, QuerySet, Sum
from django.db.models.functions import Cast, Extract, TruncDay

from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import explain_error
from workspaces.models import Workspace

from .models import COUNT_COLUMNS, LATENCY_BOUNDS, LATENCY_COLUMNS, Dimension, InsightCount

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


def _bucket_starts(start: datetime, end: datetime, *, interval: str, zone: ZoneInfo) -> list[datetime]:
    starts = []
    if interval == "hour":
        moment = start
        while moment < end:
            starts.append(moment)
            moment += timedelta(hours=1)
        return starts
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


def _period_rows(start: datetime, end: datetime) -> Q:
    """The rows whose sum is [start, end): the UTC days wholly inside it, and the hours of its
    ragged ends."""
    first_day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if first_day < start:
        first_day += timedelta(days=1)
    last_day = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = Q(daily=False, bucket__gte=start, bucket__lt=end)
    if first_day >= last_day:
        return hours
    return (
        Q(daily=True, bucket__gte=first_day, bucket__lt=last_day)
        | Q(daily=False, bucket__gte=start, bucket__lt=first_day)
        | Q(daily=False, bucket__gte=last_day, bucket__lt=end)
    )


def _bucket_epoch() -> Cast | F:
    """The bucket as Unix seconds: PostgreSQL's integer loads in C, where a timestamptz takes a
    Python loader (a long series' 2,000 of them took longer than the query)."""
    if connection.vendor == "postgresql":
        return Cast(Extract("bucket", "epoch"), BigIntegerField())
    return F("bucket")


def as_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive: the text below is UTC, with its own "Z")


def as_text(epoch: int) -> str:
    """The API's timestamp of a bucket's start: ISO 8601 UTC, `2026-12-01T08:00:00Z`."""
    return (_EPOCH + timedelta(seconds=epoch)).isoformat() + "Z"


def _fetched(rows: QuerySet[Any, Any]) -> Iterable[Sequence[Any]]:
    """The rows of a values_list as PostgreSQL's driver loads them (integers, in C), without
    Django's per-row converters, which none of these columns needs; elsewhere, as Django reads
    them."""
    if connection.vendor != "postgresql":
        return rows
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _series(
    counts: QuerySet[InsightCount],
    start: datetime,
    end: datetime,
    *,
    interval: str,
    zone: ZoneInfo,
    stamp: Callable[[int], Any],
) -> tuple[list[dict[str, Any]], Sequence[int]]:
    """The series' points (each bucket's start as `stamp` makes it of its Unix time) and the
    period's sums, from the totals' rows. By hour these are the stored rows themselves (once
    rolled up, one an hour: summed here where live slots remain); by day PostgreSQL sums them
    into the zone's days. Each point is one dict of numbers, built once (a long series has
    thousands: no intermediate dict or list per point, nor keyword arguments)."""
    rows = counts.filter(daily=False, dimension=Dimension.TOTAL, bucket__gte=start, bucket__lt=end)
    by_start: dict[int, Sequence[int]] = {}
    if interval == "day":
        days = rows.annotate(t=TruncDay("bucket", tzinfo=zone)).values("t").annotate(**_SUMS).order_by()
        for row in days.values_list("t", *_SUMS):
            by_start[int(row[0].timestamp())] = row[1:]
        starts: Iterable[int] = [
            int(m.timestamp()) for m in _bucket_starts(start, end, interval=interval, zone=zone)
        ]
    else:
        hours = rows.annotate(epoch=_bucket_epoch()).order_by().values_list("epoch", *_COLUMNS)
        for row in _fetched(hours):
            bucket = row[0]
            moment = bucket if isinstance(bucket, int) else int(bucket.timestamp())
            seen = by_start.get(moment)
            by_start[moment] = row[1:] if seen is None else tuple(map(add, seen, row[1:]))
        # Every hour from start (a whole hour) while before end.
        starts = range(int(start.timestamp()), math.ceil(end.timestamp()), 3600)
    empty = _figures(_EMPTY)
    series = []
    for moment in starts:
        values = by_start.get(moment)
        series.append({"start": stamp(moment), **empty} if values is None else _point(stamp(moment), values))
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
    series, total = _series(counts, start, end, interval=interval, zone=zone, stamp=stamp)

    period = _period_rows(start, end)
    grouped = list(counts.filter(period, dimension=group_by).values("key").annotate(**_SUMS).order_by())
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

    errors = (
        counts.filter(period, dimension=Dimension.ERROR_CODE)
        .values("key")
        .annotate(failed=_SUMS["failed"], undelivered=_SUMS["undelivered"])
        .order_by()
    )
    top = sorted((_error(r["key"], r) for r in errors), key=lambda e: (-e["count"], e["code"]))
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
