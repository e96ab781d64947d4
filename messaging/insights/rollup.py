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
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .counting import ADVISORY_LOCK_CLASS
from .models import COUNT_COLUMNS, LATENCY_COLUMNS, ROLLED_SLOT, InsightCount

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
        f"ON CONFLICT (workspace_id, daily, dimension, bucket, key, slot) DO UPDATE SET "
        + ", ".join(f"{c} = {_TABLE}.{c} + EXCLUDED.{c}" for c in _COLUMNS)
    )


def _roll_batch(where: str, params: list, limit: int) -> int | None:
    """Fold at most `limit` due rows in this transaction; how many (None: another run holds
    the roll-up)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # SQLite (the embedded default): one writer at a time, whose first statement here
            # takes the database; its data is small, all of it in one go.
            cursor.execute(_fold_sql(f"{_TABLE} WHERE {where}"), params)  # noqa: S608
            cursor.execute(f"DELETE FROM {_TABLE} WHERE {where}", params)  # noqa: S608
            return cursor.rowcount
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", ROLLUP_LOCK)
        if not cursor.fetchone()[0]:
            return None
        # The delete returns each row as it is once locked, with every count committed to it.
        cursor.execute(
            f"WITH picked AS (SELECT id FROM {_TABLE} WHERE {where} LIMIT %s FOR UPDATE SKIP LOCKED), "  # noqa: S608
            f"moved AS (DELETE FROM {_TABLE} c USING picked WHERE c.id = picked.id "
            f"RETURNING {', '.join(f'c.{c}' for c in (*_KEY, *_COLUMNS))}), "
            f"folded AS ({_fold_sql('moved')}) SELECT COUNT(*) FROM moved",
            [*params, limit],
        )
        return cursor.fetchone()[0]


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
