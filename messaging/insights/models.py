"""The delivery dashboard's counts, kept up to date as messages move (messaging.insights.counting).

One row per workspace × UTC hour × dimension × key × slot, and for the breakdowns' dimensions one
per UTC day too (`daily`), so that a long period's breakdown reads days rather than hours:

- `dimension` "" is the workspace's totals (key ""); "sender", "carrier" (the carrier account's
  id), "country" (the contact's region code) and "error_code" ("<provider>:<code>") break the
  same counts down, one dimension at a time, so that any one answer of the insights API reads at
  most (hours × that dimension's keys) rows rather than a cross product of them all.
- `slot`: the counter row a transaction writes is split into slots, each held by one open
  transaction at a time (counting.py), so that workers never wait on each other's counter rows.
  A reader sums the slots. Once an hour (or a day) is over, the roll-up (rollup.py) folds its
  slots into one row, in ROLLED_SLOT, which only the roll-up and the rebuild write: a long
  period then reads one row per hour, day and key.
- `lat_00` … `lat_19`: how many deliveries took each span of time from the message's acceptance
  (or its scheduled time) to `delivered`, in the fixed bins of LATENCY_BOUNDS; the median and the
  95th percentile are read from them.
- `figured`, `median_seconds`, `p95_seconds`: on the roll-up's row of an hour of the totals, the
  median and the 95th percentile of its bins, stored with its counts (rollup.store_hour_figures,
  in the transaction that changes them): the hour's point of a long series reads them instead of
  its twenty bins. `figured` false: not stored (a live slot's row, or one written before).
"""

from django.db import models
from django.db.models import Q

from workspaces.models import TenantQuerySet, Workspace

# Upper bounds (seconds, exclusive) of the latency bins; the last bin holds everything longer.
LATENCY_BOUNDS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600, 21600)
LATENCY_COLUMNS = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BOUNDS) + 1))
COUNT_COLUMNS = ("sent", "delivered", "failed", "undelivered", "received", "opt_outs")
LIVE_SLOTS = 16  # 0–15: the slots transactions count into (counting.py)
ROLLED_SLOT = LIVE_SLOTS  # the roll-up's


class Dimension(models.TextChoices):
    TOTAL = "", "Totals"
    SENDER = "sender", "Sender"
    CARRIER = "carrier", "Carrier account"
    COUNTRY = "country", "Destination country"
    ERROR_CODE = "error_code", "Error code"


class InsightCount(models.Model):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )  # the unique index below starts with it
    # An hour's counts (bucket: its start), or, but for the totals, a UTC day's (bucket: midnight).
    daily = models.BooleanField(default=False)
    bucket = models.DateTimeField()
    dimension = models.CharField(max_length=10, choices=Dimension.choices, blank=True)
    key = models.CharField(max_length=80, blank=True)
    slot = models.PositiveSmallIntegerField(default=0)
    sent = models.BigIntegerField(default=0)  # handed to the carrier (status `sent`)
    delivered = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    undelivered = models.BigIntegerField(default=0)
    received = models.BigIntegerField(default=0)
    opt_outs = models.BigIntegerField(default=0)
    lat_00 = models.BigIntegerField(default=0)
    lat_01 = models.BigIntegerField(default=0)
    lat_02 = models.BigIntegerField(default=0)
    lat_03 = models.BigIntegerField(default=0)
    lat_04 = models.BigIntegerField(default=0)
    lat_05 = models.BigIntegerField(default=0)
    lat_06 = models.BigIntegerField(default=0)
    lat_07 = models.BigIntegerField(default=0)
    lat_08 = models.BigIntegerField(default=0)
    lat_09 = models.BigIntegerField(default=0)
    lat_10 = models.BigIntegerField(default=0)
    lat_11 = models.BigIntegerField(default=0)
    lat_12 = models.BigIntegerField(default=0)
    lat_13 = models.BigIntegerField(default=0)
    lat_14 = models.BigIntegerField(default=0)
    lat_15 = models.BigIntegerField(default=0)
    lat_16 = models.BigIntegerField(default=0)
    lat_17 = models.BigIntegerField(default=0)
    lat_18 = models.BigIntegerField(default=0)
    lat_19 = models.BigIntegerField(default=0)
    figured = models.BooleanField(default=False, db_default=False)
    median_seconds = models.FloatField(null=True, blank=True)
    p95_seconds = models.FloatField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        db_table = "insights_count"
        constraints = [
            # Also the index of every read: one workspace, one dimension, a range of hours.
            models.UniqueConstraint(
                fields=["workspace", "daily", "dimension", "bucket", "key", "slot"],
                name="one_insight_count_per_key",
            ),
        ]
        indexes = [
            # What the roll-up has still to fold: the live slots' rows, a few hours' worth.
            models.Index(fields=["bucket"], condition=~Q(slot=ROLLED_SLOT), name="insight_count_to_roll_up"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.bucket:%Y-%m-%d %H}h {self.dimension}={self.key}"
