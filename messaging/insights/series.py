"""The insights series computed by PostgreSQL: one statement sums the totals' rows per bucket and
writes every point of the series as JSON text (what the API answers, byte for byte), so that a
long series (2,161 points for 90 days by hour) costs Python one string rather than a dict per point.

The figures are those of selectors._figures, operation for operation: the same IEEE double
arithmetic (PostgreSQL's float8 is the same double as Python's float), and Python's round(x, n)
(correctly rounded, half to even on the double's exact value) done exactly in SQL (_rounded).
messaging/insights/tests/test_series_sql.py checks both against each other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from .models import COUNT_COLUMNS, LATENCY_BOUNDS, LATENCY_COLUMNS, Dimension

_LOWER = (0, *LATENCY_BOUNDS)  # each latency bin's lower bound
_WIDTH = (*(upper - lower for lower, upper in zip(_LOWER, LATENCY_BOUNDS, strict=False)), 0)
_LAST = len(LATENCY_BOUNDS)  # the open-ended bin: its lower bound is the answer
_BINS = range(len(LATENCY_COLUMNS))
_TWO_30, _TWO_52, _TWO_82 = 2**30, 2**52, 2**82


def _rounded(x: str, digits: int) -> str:
    """SQL: the bigint n whose n / 10^digits is Python's round(x, digits), for a float8 column x >= 0.

    Away from a tie (the scaled value's fraction further than 1e-6 from one half, which no error of
    the scaling, under 1e-10 here, can cross) the float8 rounding answers. Near one, x is written
    exactly as N / 2^82 (x < 2^15 and, near a tie, x > 2^-30, so its bits lie between 2^14 and 2^-82)
    and rounded half to even in numeric, as Python rounds the double's exact value."""
    scale = 10**digits
    y = f"({x} * {scale}::float8)"
    high = f"floor({x} * {_TWO_30}::float8)"  # x's bits down to 2^-30, times 2^30
    low = f"(({x} - {high} / {_TWO_30}::float8) * {_TWO_82}::float8)::bigint"  # the rest, times 2^82
    scaled = f"(({high})::bigint::numeric * {_TWO_52} + {low}) * {scale}"  # x * 10^digits * 2^82
    quotient = f"div({scaled}, {_TWO_82})"
    twice_rest = f"2 * ({scaled} - {quotient} * {_TWO_82})"
    exact = (
        f"({quotient} + CASE WHEN {twice_rest} > {_TWO_82} THEN 1 WHEN {twice_rest} < {_TWO_82} THEN 0 "
        f"ELSE mod({quotient}, 2) END)::bigint"
    )
    near = f"abs({y} - floor({y}) - 0.5::float8) < 1e-6::float8"
    return f"CASE WHEN {near} THEN {exact} ELSE round({y})::bigint END"


def _decimal(n: str, digits: int) -> str:
    """SQL: the JSON text orjson writes for the float n / 10^digits (n a bigint column >= 0): its
    shortest form, with at least one decimal (4.9, 5.0, 0.88, 1.0)."""
    scale = 10**digits
    whole = f"({n} / {scale})::text || '.'"
    if digits == 1:
        return f"{whole} || mod({n}, {scale})::text"
    fraction = f"rtrim(lpad(mod({n}, {scale})::text, {digits}, '0'), '0')"
    return f"{whole} || CASE WHEN mod({n}, {scale}) = 0 THEN '0' ELSE {fraction} END"


def _cumulative(k: int) -> str:
    return " + ".join(f"l{i}" for i in range(k + 1))


def _bin(target: str) -> str:
    """SQL: bisect_left of the running totals c0 … c19 (the first bin whose running total reaches
    the target)."""
    return " + ".join(f"(c{i} < {target})::int" for i in _BINS)


def _pick(index: str, values: Sequence[str]) -> str:
    whens = " ".join(f"WHEN {i} THEN {value}" for i, value in enumerate(values))
    return f"CASE {index} {whens} END"


def _quantile(target: str, index: str, name: str) -> str:
    """SQL: selectors._figures' quantile of the point, as float8 (null without deliveries)."""
    seen = _pick(index, ["0", *(f"c{i}" for i in _BINS[:-1])])
    upper = _pick(index, [f"c{i}" for i in _BINS])
    lower = _pick(index, [f"{b}::float8" for b in _LOWER])
    width = _pick(index, [f"{w}::float8" for w in _WIDTH])
    return (
        f"CASE WHEN total <= 0 THEN NULL WHEN {index} = {_LAST} THEN {_LOWER[_LAST]}::float8 "
        f"ELSE {lower} + {width} * ({target} - ({seen})::float8) / (({upper}) - ({seen}))::float8 "
        f"END AS {name}"
    )


_COUNTS = ", ".join(f"SUM({c})::bigint AS {c}" for c in COUNT_COLUMNS)
_LATENCIES = ", ".join(f"SUM({c})::bigint AS l{i}" for i, c in enumerate(LATENCY_COLUMNS))
_TOTALS = ", ".join(
    [
        *(f"COALESCE(SUM({c}), 0)::bigint" for c in COUNT_COLUMNS),
        *(f"COALESCE(SUM(l{i}), 0)::bigint" for i in _BINS),
    ]
)
_FIGURES_TEXT = (
    "',\"sent\":' || sent || ',\"delivered\":' || delivered || ',\"failed\":' || failed "
    "|| ',\"undelivered\":' || undelivered || ',\"received\":' || received || ',\"opt_outs\":' || opt_outs "
    f"|| ',\"delivery_rate\":' || COALESCE({_decimal('r_rate', 4)}, 'null') "
    f"|| ',\"median_seconds_to_delivered\":' || COALESCE({_decimal('r_median', 1)}, 'null') "
    f"|| ',\"p95_seconds_to_delivered\":' || COALESCE({_decimal('r_p95', 1)}, 'null') || '}}'"
)
_EMPTY_TEXT = (
    ',"sent":0,"delivered":0,"failed":0,"undelivered":0,"received":0,"opt_outs":0,"delivery_rate":null,'
    '"median_seconds_to_delivered":null,"p95_seconds_to_delivered":null}'
)
_COUNTED = "sent, delivered, failed, undelivered, received, opt_outs"


def _statement(*, interval: str, iso: bool) -> str:
    """The series' statement: by hour, one point per hour from %(start)s while before %(end)s; by
    day, one per local day of %(days)s (the zone's dates) starting at %(starts)s (Unix time), the
    rows grouped by their hour's date in %(zone)s. Each point's start as the API writes it (`iso`)
    or as its Unix time. Each step is a subquery of its own (OFFSET 0: not merged into the next),
    so that what several expressions read is computed once per point."""
    if interval == "hour":
        key = "bucket"
        points = (
            "SELECT moment AS at, moment FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, "
            "interval '1 hour') AS moment WHERE moment < %(end)s"
        )
    else:
        key = "(date_trunc('day', bucket AT TIME ZONE %(zone)s))::date"
        points = (
            "SELECT day AS at, to_timestamp(epoch) AS moment "
            "FROM unnest(%(days)s::date[], %(starts)s::bigint[]) AS p(day, epoch)"
        )
    start = (
        """'"' || to_char(p.moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"'"""
        if iso
        else "extract(epoch FROM p.moment)::bigint::text"
    )
    cumulative = ", ".join(f"{_cumulative(i)} AS c{i}" for i in _BINS)
    running = f"""
        SELECT at, {_COUNTED}, delivered + failed + undelivered AS outcomes, {cumulative},
            0.5::float8 * ({_cumulative(_LAST)}) AS t50, 0.95::float8 * ({_cumulative(_LAST)}) AS t95
        FROM sums OFFSET 0"""  # noqa: S608 - only our constants in the text
    bins = (
        f"SELECT *, c{_LAST} AS total, {_bin('t50')} AS i50, {_bin('t95')} AS i95 "  # noqa: S608
        f"FROM ({running}) AS r OFFSET 0"
    )
    figures = f"""
        SELECT at, {_COUNTED}, CASE WHEN outcomes > 0 THEN delivered::float8 / outcomes::float8 END AS rate,
            {_quantile("t50", "i50", "median")}, {_quantile("t95", "i95", "p95")}
        FROM ({bins}) AS b OFFSET 0"""  # noqa: S608
    rounded = f"""
        SELECT at, {_COUNTED}, {_rounded("rate", 4)} AS r_rate, {_rounded("median", 1)} AS r_median,
            {_rounded("p95", 1)} AS r_p95
        FROM ({figures}) AS f OFFSET 0"""  # noqa: S608
    return f"""
WITH sums AS (
    SELECT {key} AS at, {_COUNTS}, {_LATENCIES}
    FROM insights_count
    WHERE workspace_id = %(workspace)s AND NOT daily AND dimension = '{Dimension.TOTAL.value}'
        AND bucket >= %(start)s AND bucket < %(end)s
    GROUP BY 1
)
SELECT
    (SELECT COALESCE('[' || string_agg('{{"start":' || {start}
                                       || COALESCE({_FIGURES_TEXT}, '{_EMPTY_TEXT}'),
                                       ',' ORDER BY p.moment) || ']', '[]')
     FROM ({points}) AS p LEFT JOIN ({rounded}) AS f ON f.at = p.at),
    {_TOTALS}
FROM sums
"""  # noqa: S608 - only our constants in the text


_STATEMENTS = {
    (interval, iso): _statement(interval=interval, iso=iso)
    for interval in ("hour", "day")
    for iso in (True, False)
}


def series_json(
    *,
    workspace_id: str,
    start: datetime,
    end: datetime,
    interval: str,
    zone: str,
    days: Sequence[object] = (),
    starts: Sequence[int] = (),
    iso: bool = True,
) -> tuple[str, list[int]]:
    """The series as JSON text (each point's start as the API writes it, or its Unix time) and the
    period's sums in _COLUMNS' order (selectors), from one statement."""
    params = {
        "workspace": workspace_id,
        "start": start,
        "end": end,
        "zone": zone,
        "days": list(days),
        "starts": list(starts),
    }
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENTS[(interval, iso)], params)
        text, *totals = cursor.fetchone()
    return text, totals
