"""Rolling the counts of finished hours and days into one row each (a periodic task).

Counting writes a busy hour into up to sixteen slot rows per key (counting.py), so that workers
never wait on each other; a reader sums them. Once the hour is over they only cost the readers:
90 days by hour would read every slot of 2,160 hours. The roll-up folds the rows of the live
slots of every hour that ended more than GRACE ago (and of every UTC day, for the days' rows)
into the key's row in ROLLED_SLOT, and deletes them, in the same transaction: a sum never changes.

Safe beside the lifecycle, which may still count into a finished hour (an inbound message filed
late counts in the hour it arrived): each batch locks the rows it folds with SKIP LOCKED, so a
row an open transaction is counting into is left for the next run, and a transaction that
wants a row being folded waits for the batch, then finds it gone and inserts a new one (its
ON CONFLICT sees the delete). Only the roll-up writes ROLLED_SLOT's rows, one run at a time (an
advisory lock), each batch in key order. Running it again finds nothing to do.

The rolled row of an hour of the totals also stores its median and 95th percentile time to
delivered (store_hour_figures, in the transaction of the fold that changed its counts): what a
long series by hour shows of it, read instead of computed from its bins on every answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .counting import ADVISORY_LOCK_CLASS
from .models import COUNT_COLUMNS, LATENCY_COLUMNS, ROLLED_SLOT, Dimension, InsightCount
from .selectors import latency_quantiles

# An hour is rolled up this long after its end: what is still in flight at its end has landed.
GRACE = timedelta(minutes=5)
ROLLUP_LOCK = (ADVISORY_LOCK_CLASS + 1, 0)  # one run at a time (a second one returns)

_TABLE = InsightCount._meta.db_table
_KEY = ("workspace_id", "daily", "bucket", "dimension", "key")
_COLUMNS = (*COUNT_COLUMNS, *LATENCY_COLUMNS)


def _due(hour_cutoff: datetime, day_cutoff: datetime) -> tuple[str, list]:
    """The live slots' rows of the hours that began before `hour_cutoff` and the days before
    `day_cutoff` (the condition of the index insight_count_to_roll_up)."""
    adapt = connection.ops.adapt_datetimefield_value
    return (
        f"slot <> {ROLLED_SLOT} AND bucket < %s AND (daily = %s OR bucket < %s)",
        [adapt(hour_cutoff), False, adapt(day_cutoff)],
    )


def _fold_sql(source: str) -> str:
    """Add the sums of `source`'s rows, by key, to the keys' rolled rows."""
    key = ", ".join(_KEY)
    return (
        f"INSERT INTO {_TABLE} ({key}, slot, {', '.join(_COLUMNS)}) "  # noqa: S608
        f"SELECT {key}, {ROLLED_SLOT}, {', '.join(f'SUM({c})' for c in _COLUMNS)} FROM {source} "
        f"GROUP BY {key} ORDER BY {key} "
        f"ON CONFLICT (workspace_id, daily, dimension, bucket, key, slot) DO UPDATE SET figured = %s, "
        + ", ".join(f"{c} = {_TABLE}.{c} + EXCLUDED.{c}" for c in _COLUMNS)
    )


# The rows whose figures are stored: the rolled rows of the totals' hours.
_HOURS_OF_TOTALS = f"slot = {ROLLED_SLOT} AND daily = %s AND dimension = %s"


def store_hour_figures(where: str, params: list) -> int:
    """Store the figures of the rolled rows of the totals' hours that match `where` (with
    `params`), locked in this transaction for it; answers how many."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(_COLUMNS)} FROM {_TABLE} "  # noqa: S608
            f"WHERE {_HOURS_OF_TOTALS} AND ({where}){lock}",
            [False, Dimension.TOTAL, *params],
        )
        figures = [(True, *latency_quantiles(row[1:]), row[0]) for row in cursor.fetchall()]
        cursor.executemany(
            f"UPDATE {_TABLE} SET figured = %s, median_seconds = %s, p95_seconds = %s WHERE id = %s",  # noqa: S608
            figures,
        )
    return len(figures)


def _roll_batch(where: str, params: list, limit: int) -> int | None:
    """Fold at most `limit` due rows in this transaction; how many (None: another run holds
    the roll-up)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # SQLite (the embedded default): one writer at a time, whose first statement here
            # takes the database; its data is small, all of it in one go.
            cursor.execute(_fold_sql(f"{_TABLE} WHERE {where}"), [*params, False])  # noqa: S608
            cursor.execute(f"DELETE FROM {_TABLE} WHERE {where}", params)  # noqa: S608
            folded = cursor.rowcount
            store_hour_figures("NOT figured", [])
            return folded
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", ROLLUP_LOCK)
        if not cursor.fetchone()[0]:
            return None
        # The delete returns each row as it is once locked, with every count committed to it.
        cursor.execute(
            f"WITH picked AS (SELECT id FROM {_TABLE} WHERE {where} LIMIT %s FOR UPDATE SKIP LOCKED), "  # noqa: S608
            f"moved AS (DELETE FROM {_TABLE} c USING picked WHERE c.id = picked.id "
            f"RETURNING {', '.join(f'c.{c}' for c in (*_KEY, *_COLUMNS))}), "
            f"folded AS ({_fold_sql('moved')} RETURNING id, daily, dimension) "
            f"SELECT (SELECT COUNT(*) FROM moved), "
            f"ARRAY(SELECT id FROM folded WHERE NOT daily AND dimension = %s)",
            [*params, limit, False, Dimension.TOTAL],
        )
        folded, hours = cursor.fetchone()
    if hours:
        store_hour_figures("id = ANY(%s)", [hours])
    return folded


def insights_rollup(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Fold the finished hours' and days' slots, in batches of `batch_size` rows, each its own
    transaction; answers how many rows were folded."""
    now = now or timezone.now()
    batch_size = batch_size or settings.INSIGHTS_ROLLUP_BATCH_SIZE
    hour_cutoff = now - GRACE - timedelta(hours=1)
    day_cutoff = now - GRACE - timedelta(days=1)
    where, params = _due(hour_cutoff, day_cutoff)
    folded = 0
    while True:
        with transaction.atomic():
            rows = _roll_batch(where, params, batch_size)
        if rows is None:
            break
        folded += rows
        if rows < batch_size or connection.vendor != "postgresql":
            break
    return folded
