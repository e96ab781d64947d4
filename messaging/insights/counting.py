"""Keeping the delivery dashboard's counts (InsightCount) up to date, in the transaction of the
change they count, and rebuilding them from the stored messages.

What is counted, each in the UTC hour it happened:

- every `sent`, `delivered`, `failed` and `undelivered` status event the lifecycle writes
  (`count_events`, called by messaging.lifecycle for every batch of status changes); a message
  sent again after a failure counts again, as its history shows;
- every inbound message filed (`received`) and every opt-out keyword (`opt_outs`), in the hour of
  the inbound message (`count_inbound`, called where inbound messages are filed);
- for each delivery, the time from the message's acceptance (or its scheduled time) to
  `delivered`, in the fixed bins of LATENCY_BOUNDS.

Cost on the hot path: a batch is tallied in Python (one small tuple per event, the contact's
country from a cache of number prefixes) and written by one INSERT … ON CONFLICT DO UPDATE, which
also finds each sender's carrier account and fans each tally out to the dimensions. A batch of
one sender's messages in one hour writes five rows, whatever its size.

Contention: every worker counts into the same hour of a busy workspace. So that they never wait
on each other's counter rows (nor deadlock, a transaction may count several times), each
transaction writes into a slot (0–15) that no other open transaction holds: the first slot whose
transaction-scoped advisory lock it gets at once (`pg_try_advisory_xact_lock`, which never waits
and which a transaction that holds it gets again). Only when all sixteen are held at once does
it share one (its connection's, and it may then wait). Readers sum the slots; the few busy hours
have a handful of rows where a quiet one has one. SQLite (the embedded default) has one writer
and uses slot 0.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import phonenumbers
from django.db import connection, transaction
from django.db.models import Max, Min

from messaging.models import ConsentAction, ConsentEvent, Direction, Message, MessageEvent, Status
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Workspace

from .models import (
    COUNT_COLUMNS,
    LATENCY_BOUNDS,
    LATENCY_COLUMNS,
    LIVE_SLOTS,
    ROLLED_SLOT,
    Dimension,
    InsightCount,
)

# The status events that are counted, and the column each adds to.
COUNTED_STATUSES: dict[str, str] = {
    Status.SENT: "sent",
    Status.DELIVERED: "delivered",
    Status.FAILED: "failed",
    Status.UNDELIVERED: "undelivered",
}
SLOTS = LIVE_SLOTS
ADVISORY_LOCK_CLASS = 7_301_150  # the first key of the slots' advisory locks (the second: the slot)
ROWS_PER_STATEMENT = 1000

# A tally's key: (workspace id, hour, sender, contact's country, error code, column, latency bin or -1).
TallyKey = tuple[str, datetime, str, str, str, str, int]

_TABLE = InsightCount._meta.db_table
_REGIONS: dict[str, str] = {}
_REGION_PREFIX = 8  # "+" and 7 digits: enough to tell a region within a shared calling code


def country_of(number: str) -> str:
    """The region code (ISO 3166 alpha-2) of an E.164 number, "" when unknown. Cached by prefix:
    the region of a number is decided by its calling code and first digits."""
    prefix = number[:_REGION_PREFIX]
    region = _REGIONS.get(prefix)
    if region is None:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
        except phonenumbers.NumberParseException:
            region = ""
        if region == "001":  # a non-geographic entity, not a country
            region = ""
        if len(_REGIONS) < 200_000:
            _REGIONS[prefix] = region
    return region


def latency_bin(seconds: float) -> int:
    return bisect_right(LATENCY_BOUNDS, seconds)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _sender(message: Message) -> str:
    if message.direction == Direction.INBOUND:
        return message.to_number
    return message.from_number or message.messaging_service_sid


def _due(message: Message) -> datetime:
    """When the message could first be sent: its acceptance, or its scheduled time."""
    if message.scheduled_at and message.scheduled_at > message.created_at:
        return message.scheduled_at
    return message.created_at


# Live counting ---------------------------------------------------------------------------------


def count_events(events: Iterable[tuple[Message, str, str | None, datetime]]) -> None:
    """Count a batch of status events being written, as (message, status, error code, when), in
    the caller's transaction."""
    tally: Counter[TallyKey] = Counter()
    for message, status, error_code, at in events:
        column = COUNTED_STATUSES.get(status)
        if column is None:
            continue
        bin_ = -1
        if column == "delivered":
            delivered = message.delivered_at or at
            bin_ = latency_bin((delivered - _due(message)).total_seconds())
        tally[
            (
                message.workspace_id,
                _hour(at),
                _sender(message),
                country_of(message.to_number),
                error_code or "",
                column,
                bin_,
            )
        ] += 1
    write_tally(tally)


def count_inbound(messages: Iterable[Message], *, opt_out_keywords: Iterable[str]) -> None:
    """Count a batch of inbound messages just filed, and those of them that opted out (their
    body is one of `opt_out_keywords`), in the caller's transaction."""
    keywords = frozenset(opt_out_keywords)
    tally: Counter[TallyKey] = Counter()
    for message in messages:
        key = (
            message.workspace_id,
            _hour(message.created_at),
            message.to_number,
            country_of(message.from_number),
            "",
        )
        tally[(*key, "received", -1)] += 1
        if message.body.strip().upper() in keywords:
            tally[(*key, "opt_outs", -1)] += 1
    write_tally(tally)


def write_tally(tally: Counter[TallyKey], *, slot: int | None = None) -> None:
    """Add a tally to the counts: one statement per ROWS_PER_STATEMENT keys. `slot`: write
    there (the rebuild, which holds the table) instead of a slot of this transaction's own."""
    if not tally:
        return
    items = list(tally.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), ROWS_PER_STATEMENT):
            chunk = items[start : start + ROWS_PER_STATEMENT]
            params: list = []
            for (workspace_id, hour, sender, country, code, column, bin_), count in chunk:
                params += [
                    workspace_id,
                    connection.ops.adapt_datetimefield_value(hour),
                    sender,
                    country,
                    code[:40],
                    column,
                    bin_,
                    count,
                ]
            cursor.execute(_upsert_sql(len(chunk), slot), params)


def _upsert_sql(rows: int, slot: int | None) -> str:
    """The statement that adds `rows` tallies (8 parameters each)."""
    postgres = connection.vendor == "postgresql"
    stamp = "timestamptz" if postgres else "text"
    cell = (
        f"(CAST(%s AS text), CAST(%s AS {stamp}), CAST(%s AS text), CAST(%s AS text), "
        "CAST(%s AS text), CAST(%s AS text), CAST(%s AS integer), CAST(%s AS integer))"
    )
    values = f"VALUES {', '.join([cell] * rows)}"
    names = "ws, bucket, sender, country, code, col, bin, n"
    numbers, accounts = PhoneNumber._meta.db_table, ProviderAccount._meta.db_table
    # The sender's carrier account, as numbers.routing.account_for_sender chooses it.
    account = (
        f"COALESCE((SELECT n.account_id FROM {numbers} n WHERE n.workspace_id = v.ws "  # noqa: S608
        f"AND n.phone_number = v.sender AND n.account_id IS NOT NULL LIMIT 1), "
        f"(SELECT p.id FROM {accounts} p WHERE p.workspace_id = v.ws AND p.is_primary LIMIT 1))"
    )
    # Each tally counts once in every dimension (in error_code only when it has one).
    key = (
        f"CASE dims.dimension WHEN '{Dimension.SENDER}' THEN v.sender "
        f"WHEN '{Dimension.CARRIER}' THEN COALESCE(acc.uid, '') WHEN '{Dimension.COUNTRY}' THEN v.country "
        f"WHEN '{Dimension.ERROR_CODE}' THEN COALESCE(acc.provider, '') || ':' || v.code ELSE '' END"
    )
    dims = " UNION ALL ".join(f"SELECT '{d}' AS dimension" for d in Dimension.values)
    columns = [*COUNT_COLUMNS, *LATENCY_COLUMNS]
    sums = [f"SUM(CASE WHEN col = '{c}' THEN n ELSE 0 END)" for c in COUNT_COLUMNS]
    sums += [f"SUM(CASE WHEN bin = {i} THEN n ELSE 0 END)" for i in range(len(LATENCY_COLUMNS))]
    if slot is not None:
        slot_sql = str(int(slot))
    elif postgres:
        # Evaluated once per statement: the first slot this transaction holds or can take now.
        slot_sql = (
            f"COALESCE((SELECT g FROM generate_series(0, {SLOTS - 1}) g "  # noqa: S608
            f"WHERE pg_try_advisory_xact_lock({ADVISORY_LOCK_CLASS}, g) LIMIT 1), "
            f"pg_backend_pid() %% {SLOTS})"
        )
    else:
        slot_sql = "0"
    # Each tally counts in its hour, and (but for the totals) in its UTC day: what a long period's
    # breakdown reads, a day's rows instead of 24 hours'.
    day = "date_trunc('day', v.bucket)" if postgres else "strftime('%%Y-%%m-%%d 00:00:00', v.bucket)"
    # PostgreSQL names the columns of a VALUES list in place; SQLite only in a WITH.
    head, source = ("", f"({values}) AS v({names})") if postgres else (f"WITH v({names}) AS ({values}) ", "v")
    sql = (
        f"{head}INSERT INTO {_TABLE} (workspace_id, daily, bucket, dimension, key, slot, "  # noqa: S608
        f"{', '.join(columns)}) "
        f"SELECT ws, daily, bucket, dimension, key, {slot_sql}, {', '.join(sums)} FROM ("
        f"SELECT v.ws, spans.d = 1 AS daily, CASE WHEN spans.d = 1 THEN {day} ELSE v.bucket END AS bucket, "
        f"dims.dimension, {key} AS key, v.col, v.bin, v.n FROM {source} "
        f"LEFT JOIN {accounts} acc ON acc.id = {account} "
        f"CROSS JOIN ({dims}) dims CROSS JOIN (SELECT 0 AS d UNION ALL SELECT 1) spans "
        f"WHERE (dims.dimension <> '{Dimension.ERROR_CODE}' OR v.code <> '') "
        f"AND (spans.d = 0 OR dims.dimension <> '{Dimension.TOTAL}')) d WHERE TRUE "
        f"GROUP BY ws, daily, bucket, dimension, key ORDER BY ws, daily, bucket, dimension, key "
        f"ON CONFLICT (workspace_id, daily, dimension, bucket, key, slot) DO UPDATE SET "
        + ", ".join(f"{c} = {_TABLE}.{c} + EXCLUDED.{c}" for c in columns)
    )
    return sql


# Rebuilding from the stored messages ---------------------------------------------------------


def _sql_hour(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"date_trunc('hour', {column})"
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {column})"


def _sql_seconds(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _sql_latest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if connection.vendor == "postgresql" else f"MAX({a}, {b})"


def _sql_bin(seconds: str) -> str:
    cases = " ".join(f"WHEN {seconds} < {bound} THEN {i}" for i, bound in enumerate(LATENCY_BOUNDS))
    return f"CASE {cases} ELSE {len(LATENCY_BOUNDS)} END"


def _as_hour(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _grouped_counts(workspace_id: str, start: datetime, end: datetime) -> Iterator[tuple]:
    """(hour, sender, a contact number, code, column, bin, count) of the counted history of the
    workspace's messages created in [start, end), grouped in the database by the number's prefix
    (country_of reads the region from the prefix)."""
    messages, events, consents = (
        Message._meta.db_table,
        MessageEvent._meta.db_table,
        ConsentEvent._meta.db_table,
    )
    counted = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)
    due = _sql_latest("m.created_at", "COALESCE(m.scheduled_at, m.created_at)")
    latency = _sql_bin(_sql_seconds("COALESCE(m.delivered_at, e.created_at)", due))
    prefix = f"substr(%s, 1, {_REGION_PREFIX})"
    window = [
        workspace_id,
        connection.ops.adapt_datetimefield_value(start),
        connection.ops.adapt_datetimefield_value(end),
    ]
    statements = [
        (
            f"SELECT {_sql_hour('e.created_at')}, "  # noqa: S608
            f"COALESCE(NULLIF(m.from_number, ''), m.messaging_service_sid), "
            f"MIN(m.to_number), COALESCE(e.error_code, ''), e.status, "
            f"CASE WHEN e.status = '{Status.DELIVERED}' THEN {latency} ELSE -1 END, COUNT(*) "
            f"FROM {events} e JOIN {messages} m ON m.id = e.message_id "
            f"WHERE m.workspace_id = %s AND m.created_at >= %s AND m.created_at < %s "
            f"AND e.status IN ({counted}) GROUP BY 1, 2, {prefix % 'm.to_number'}, 4, 5, 6"
        ),
        (
            f"SELECT {_sql_hour('m.created_at')}, m.to_number, MIN(m.from_number), '', 'received', -1, "  # noqa: S608
            f"COUNT(*) FROM {messages} m WHERE m.workspace_id = %s AND m.created_at >= %s "
            f"AND m.created_at < %s AND m.direction = '{Direction.INBOUND}' "
            f"GROUP BY 1, 2, {prefix % 'm.from_number'}"
        ),
        (
            f"SELECT {_sql_hour('m.created_at')}, m.to_number, MIN(c.phone_number), '', 'opt_outs', -1, "  # noqa: S608
            f"COUNT(*) FROM {consents} c JOIN {messages} m ON m.id = c.message_id "
            f"WHERE m.workspace_id = %s AND m.created_at >= %s AND m.created_at < %s "
            f"AND c.action = '{ConsentAction.OPT_OUT}' GROUP BY 1, 2, {prefix % 'c.phone_number'}"
        ),
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, window)
            for hour, sender, contact, code, status, bin_, count in cursor.fetchall():
                column = COUNTED_STATUSES.get(status, status)
                yield _as_hour(hour), sender or "", contact or "", code, column, int(bin_), count


def insights_rebuild(
    *, workspace_ids: Sequence[str] | None = None, window: timedelta = timedelta(days=7)
) -> int:
    """Recount the dashboard's counts of these workspaces (all when None) from their stored
    messages, their events and consent records; answers how many counter rows it wrote.

    Runs in one transaction that holds the counts' table against writers (readers go on), so
    that a status change made meanwhile is counted exactly once: by the rebuild if it committed
    before, else by itself after. Messages deleted since (retention keeps them) are no longer
    counted."""
    from .rollup import store_hour_figures  # which imports this module

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {_TABLE} IN SHARE ROW EXCLUSIVE MODE")
        workspaces = Workspace.objects.order_by("pk")
        if workspace_ids is not None:
            workspaces = workspaces.filter(pk__in=list(workspace_ids))
        written = 0
        for workspace_id in workspaces.values_list("pk", flat=True):
            InsightCount.objects.filter(workspace_id=workspace_id).delete()
            span = Message.objects.filter(workspace_id=workspace_id).aggregate(
                first=Min("created_at"), last=Max("created_at")
            )
            start = span["first"]
            while start is not None and start <= span["last"]:
                tally: Counter[TallyKey] = Counter()
                for hour, sender, contact, code, column, bin_, count in _grouped_counts(
                    workspace_id, start, start + window
                ):
                    tally[(workspace_id, hour, sender, country_of(contact), code, column, bin_)] += count
                write_tally(tally, slot=ROLLED_SLOT)  # as the roll-up leaves finished hours
                start += window
            store_hour_figures("workspace_id = %s", [workspace_id])
            written += InsightCount.objects.filter(workspace_id=workspace_id).count()
    return written
