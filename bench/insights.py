"""The delivery dashboard at scale: the insights API's queries on a workspace with 10 million
messages' worth of counts, what counting adds to each status change, and the rebuild.

On its own PostgreSQL database (BENCH_DB, dropped and created each run):

1. fills the counts (insights_count) of one workspace as 10 million messages over 90 days leave
   them (20 senders on 3 carrier accounts, 12 countries, 8 error codes, every hour written by 4
   workers' slots), beside 200 smaller workspaces, with generate_series, and rolls them up as the
   periodic roll-up leaves them (every hour but the last, every day but today, in one row per
   key), timing it;
2. times the insights API's work (the selector's queries and the answer: what the view does
   after authentication), then with the JSON the renderer writes, for a day, a week and 90 days
   (--periods to pick), at each interval and group_by, and prints p50 and p99 of each (target:
   p99 under 50 ms with the JSON) and the CPU of an answer;
3. times the lifecycle's mark_sent and delivered status batches (100 messages each) with and
   without the counting hook, and prints what counting adds per message;
4. with --rebuild-messages N, stores N messages with their events (generate_series) and times
   `insights_rebuild` over them.

    BENCH_DB=mp_insights_bench .venv/bin/python bench/insights.py            # full size
    BENCH_DB=mp_insights_bench .venv/bin/python bench/insights.py --messages 100000 --runs 5 \\
        --hook-messages 2000 --rebuild-messages 20000                         # a quick check
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "bench")
SENDERS, ACCOUNTS, SLOTS = 20, 3, 4
COUNTRIES = ["US", "CA", "GB", "FR", "DE", "ES", "IT", "BR", "MX", "IN", "AU", "NL"]
ERRORS = [
    "twilio:30003",
    "twilio:30005",
    "twilio:30006",
    "twilio:30007",
    "twilio:30008",
    "twilio:21211",
    "telnyx:40008",
    "telnyx:40300",
]
DAYS = 90


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def setup_database(*, reuse: bool = False) -> None:
    for sql in (f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}"):
        if not reuse:
            subprocess.run(["psql", PG + "/postgres", "-qc", sql], check=True, capture_output=True)
    # Production settings on the bench database; no Redis: nothing here needs the broker or the
    # channel layer (the published events are not what is measured).
    os.environ.update(
        {
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
            "SECRET_KEY": "bench-secret-key",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "FIELD_ENCRYPTION_KEY": "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw=",  # bench-only
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, check=True)
    import django

    django.setup()


_WORKSPACE_SEQ = itertools.count()


def make_workspace(name: str, *, senders: int, accounts: int):
    from numbers.models import PhoneNumber, ProviderAccount
    from workspaces.models import Workspace

    workspace = Workspace.objects.create(name=name, timezone="America/New_York")
    made = [
        ProviderAccount.objects.create(
            workspace=workspace,
            provider=("twilio", "telnyx", "smpp")[i],
            name=f"Account {i}",
            is_primary=i == 0,
        )
        for i in range(accounts)
    ]
    prefix = f"+1202{next(_WORKSPACE_SEQ) + 100:03d}"  # distinct per workspace: +1202100…, +1202101…
    numbers = [
        PhoneNumber.objects.create(
            workspace=workspace, phone_number=f"{prefix}{i:04d}", account=made[i % accounts]
        )
        for i in range(senders)
    ]
    return workspace, made, numbers


def fill_counts(
    workspace_id: str, *, messages: int, keys: dict[str, list[str]], end: datetime, slots: int = SLOTS
) -> int:
    """The counts `messages` messages over DAYS days leave: per hour and slot, the totals and
    each dimension's keys sharing them (with some noise), 2% failed, 1% undelivered, 3% received,
    0.1% opt-outs, deliveries spread over the latency bins of 1 to 20 seconds."""
    from django.db import connection

    from messaging.insights.models import LATENCY_COLUMNS

    per_row = messages / (DAYS * 24) / slots
    start = end - timedelta(days=DAYS)
    latency = {3: 0.15, 4: 0.25, 5: 0.25, 6: 0.15, 7: 0.1, 8: 0.05, 10: 0.03, 14: 0.02}
    lat_sql = ", ".join(f"(d.delivered * {latency.get(i, 0.0)})::bigint" for i in range(len(LATENCY_COLUMNS)))
    dims = [("", "")] + [(dim, key) for dim, values in keys.items() for key in values]
    share = {"": 1.0, **{dim: 1.0 / len(values) for dim, values in keys.items()}}
    values = ", ".join(f"('{d}', '{k}', {share[d]})" for d, k in dims)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO insights_count (workspace_id, daily, bucket, dimension, key, slot, sent, delivered,
                                        failed, undelivered, received, opt_outs, {", ".join(LATENCY_COLUMNS)})
            SELECT %s, false, d.h, d.dim, d.key, d.slot, d.sent, d.delivered, d.failed, d.undelivered,
                   d.received,
                   d.opt_outs, {lat_sql}
            FROM (SELECT h, k.dim, k.key, s AS slot,
                         (n * 0.97 * e)::bigint AS sent, (n * 0.95 * e)::bigint AS delivered,
                         (n * 0.02)::bigint AS failed, (n * 0.01)::bigint AS undelivered,
                         (n * 0.03 * e)::bigint AS received, ((n * 0.001 + random()) * e)::bigint AS opt_outs
                  FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 hour',
                                       interval '1 hour') h
                  CROSS JOIN (VALUES {values}) AS k(dim, key, share)
                  CROSS JOIN generate_series(0, {slots - 1}) s
                  CROSS JOIN LATERAL (SELECT {per_row} * k.share * (0.6 + 0.8 * random()) AS n,
                                             CASE WHEN k.dim = 'error_code' THEN 0 ELSE 1 END AS e) r) d
        """,
            [workspace_id, start, end],
        )  # noqa: S608 - only our constants in the text
        rows = cursor.rowcount
        # The days' rows, as counting writes them beside the hours' (but for the totals).
        columns = ", ".join(
            ["sent", "delivered", "failed", "undelivered", "received", "opt_outs", *LATENCY_COLUMNS]
        )
        cursor.execute(
            f"""
            INSERT INTO insights_count (workspace_id, daily, bucket, dimension, key, slot, {columns})
            SELECT workspace_id, true, date_trunc('day', bucket), dimension, key, slot,
                   {", ".join(f"SUM({c})" for c in columns.split(", "))}
            FROM insights_count WHERE workspace_id = %s AND NOT daily AND dimension <> ''
            GROUP BY workspace_id, date_trunc('day', bucket), dimension, key, slot
        """,
            [workspace_id],
        )
        return rows + cursor.rowcount


def time_queries(
    workspace, *, runs: int, end: datetime, freeze: bool = True, periods: tuple[str, ...] = ()
) -> list[float]:
    import orjson
    import psutil
    from django.db import connection

    from messaging.insights.api import insights_document
    from messaging.insights.selectors import GROUPS
    from messaging_platform.api.renderers import OrjsonRenderer

    render = OrjsonRenderer().render  # the JSON the view answers (the insights views' renderer is this one's)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])  # PostgreSQL's process serving this connection

    def cpu() -> tuple[float, float]:
        ours, theirs = psutil.Process().cpu_times(), backend.cpu_times()
        return ours.user + ours.system, theirs.user + theirs.system

    # As a web worker runs (gunicorn.conf.py: post_worker_init), the loaded app's objects out of
    # the collector's full collections; --no-gc-freeze to measure without.
    if freeze:
        gc.collect()
        gc.freeze()
    worst = []
    print(
        f"  insights API work (selector and answer, then with its JSON), {runs} runs each, ms, and "
        f"the CPU of an answer with its JSON (this process's and its PostgreSQL backend's, which "
        f"load distorts less); {'loaded objects frozen' if freeze else 'no gc.freeze'}; {load()}",
        flush=True,
    )
    spans = (("day", timedelta(days=1)), ("week", timedelta(days=7)), ("90 days", timedelta(days=90)))
    for label, span in spans:
        if periods and label.replace(" ", "") not in periods:
            continue
        for interval in ("hour", "day"):
            for group_by in GROUPS:
                times, rendered = [], []
                for i in range(runs + 1):
                    if i == 1:
                        cpu_at = cpu()
                    moment = end - timedelta(minutes=7 * i)  # a little different each time, as users ask
                    started = time.perf_counter()
                    # What the view answers, then as the JSON renderer writes it.
                    report = insights_document(
                        workspace=workspace,
                        start=moment - span,
                        end=moment,
                        interval=interval,
                        group_by=group_by,
                    )
                    answered = time.perf_counter()
                    body = render(report)
                    if i:  # the first run warms the caches
                        times.append((answered - started) * 1000)
                        rendered.append((time.perf_counter() - started) * 1000)
                ours, theirs = (round((b - a) * 1000 / runs, 1) for a, b in zip(cpu_at, cpu(), strict=True))
                answer = orjson.loads(body)
                p99 = pct(rendered, 99)
                worst.append(p99)
                print(
                    f"    {label:8s} interval={interval:4s} group_by={group_by:10s} "
                    f"p50 {pct(times, 50):6.1f} p99 {pct(times, 99):6.1f}; with JSON p50 "
                    f"{pct(rendered, 50):6.1f} p99 {p99:6.1f}  cpu {ours + theirs:5.1f} = {ours:5.1f} + "
                    f"PostgreSQL {theirs:5.1f}  ({len(answer['series'])} buckets, "
                    f"{len(answer['breakdown'])} groups, {len(body):,} bytes)",
                    flush=True,
                )
    return worst


def store_messages(workspace, numbers, count: int, *, delivered: bool, status: str = "queued") -> list[str]:
    """`count` outbound messages of the workspace (and for `delivered`, their sent and delivered
    events too, spread over the last DAYS days), in one statement each."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO messaging_message (id, workspace_id, direction, status, to_number, from_number,
                messaging_service_sid, body, media_urls, num_segments, encoding, status_callback, created_at,
                updated_at, sent_at, delivered_at, attempts, request_id, error_code)
            SELECT 'msg_bench' || lpad(g::text, 12, '0') || %s, %s, 'outbound',
                   CASE WHEN %s THEN (CASE WHEN g %% 50 = 0 THEN 'undelivered' ELSE 'delivered' END)
                        ELSE %s END,
                   '+1' || (ARRAY['415','212','416','604'])[1 + g %% 4] || lpad((g %% 9999999)::text, 7, '0'),
                   (%s::text[])[1 + g %% %s], '', 'bench', '[]', 1, 'GSM-7', '',
                   now() - (g %% (%s * 86400)) * interval '1 second',
                   now(),
                   CASE WHEN %s
                        THEN now() - (g %% (%s * 86400)) * interval '1 second' + interval '1 second' END,
                   CASE WHEN %s AND g %% 50 <> 0
                        THEN now() - (g %% (%s * 86400)) * interval '1 second' + interval '4 seconds' END,
                   1, '', CASE WHEN %s AND g %% 50 = 0 THEN '30003' END
            FROM generate_series(1, %s) g RETURNING id
        """,
            [
                workspace.pk[-6:],
                workspace.pk,
                delivered,
                status,
                [n.phone_number for n in numbers],
                len(numbers),
                DAYS,
                delivered,
                DAYS,
                delivered,
                DAYS,
                delivered,
                count,
            ],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if delivered:
            cursor.execute(
                """
                INSERT INTO messaging_messageevent (message_id, status, error_code, source, created_at)
                SELECT id, 'sent', NULL, 'worker', sent_at FROM messaging_message WHERE workspace_id = %s
                UNION ALL
                SELECT id, status, error_code, 'carrier',
                       COALESCE(delivered_at, sent_at + interval '3 seconds')
                FROM messaging_message WHERE workspace_id = %s
            """,
                [workspace.pk, workspace.pk],
            )
    return ids


def time_hook(workspace, numbers, *, count: int, batch: int = 100, rounds: int = 3) -> None:
    """mark_sent then delivered, in batches, with the counting hook and without, in alternating
    rounds (the best round of each: the machine may be shared); µs per message."""
    from django.db import transaction

    from messaging import events, lifecycle
    from messaging.insights import counting
    from messaging.lifecycle import Sent, StatusReport
    from messaging.models import Message

    events.publish_events = lambda *args, **kwargs: None  # no channel layer here: count the writes only
    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, hook in (("with counting", counting.count_events), ("without", lambda events: None)):
            lifecycle.writes.count_events = hook
            ids = store_messages(workspace, numbers, count, delivered=False, status="sending")
            started = time.perf_counter()
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                with transaction.atomic():
                    lifecycle.messages_mark_sent([Sent(i, f"SM{i}") for i in chunk])
                with transaction.atomic():
                    lifecycle.messages_apply_statuses([StatusReport(i, "delivered") for i in chunk])
            per_message = (time.perf_counter() - started) / len(ids) * 1e6
            best[label] = min(best.get(label, per_message), per_message)
            Message.objects.filter(pk__in=ids).delete()
    lifecycle.writes.count_events = counting.count_events
    for label, value in best.items():
        print(
            f"    {label:14s} {value:7.1f} µs per message (sent + delivered, batches of {batch}, "
            f"best of {rounds})",
            flush=True,
        )
    added = best["with counting"] - best["without"]
    print(
        f"  counting adds {added:.1f} µs per message over its two status changes "
        f"({added / best['without'] * 100:.0f}% of the lifecycle's own cost); {load()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=10_000_000, help="messages' worth of counts (big workspace)"
    )
    parser.add_argument("--others", type=int, default=200, help="smaller workspaces beside it")
    parser.add_argument("--runs", type=int, default=50, help="runs of each query")
    parser.add_argument("--hook-messages", type=int, default=20_000, help="messages for the hook's cost")
    parser.add_argument("--rebuild-messages", type=int, default=0, help="messages to store and rebuild from")
    parser.add_argument(
        "--no-rollup",
        action="store_true",
        help="leave the counts in their slots (as before the roll-up existed)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="time without freezing the loaded objects (as before)"
    )
    parser.add_argument(
        "--periods",
        default="",
        help="time only these periods, comma-separated among day, week, 90days (default: all)",
    )
    parser.add_argument(
        "--reuse-db", action="store_true", help="time the queries on a database --keep-db left (no fill)"
    )
    args = parser.parse_args()
    periods = tuple(p for p in args.periods.split(",") if p)
    setup_database(reuse=args.reuse_db)
    from django.db import connection

    from messaging.insights.counting import insights_rebuild

    if args.reuse_db:  # the big workspace a run with --keep-db filled, up to the hour it ended
        from django.db.models import Max

        from messaging.insights.models import InsightCount
        from workspaces.models import Workspace

        workspace = Workspace.objects.get(name="Big")
        last = InsightCount.objects.filter(workspace=workspace).aggregate(last=Max("bucket"))["last"]
        worst = time_queries(
            workspace,
            runs=args.runs,
            end=last + timedelta(hours=1),
            freeze=not args.no_gc_freeze,
            periods=periods,
        )
        print(
            f"  worst p99 {max(worst):.1f} ms; p50 of the worst p99s {statistics.median(worst):.1f} ms",
            flush=True,
        )
        return

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    workspace, accounts, numbers = make_workspace("Big", senders=SENDERS, accounts=ACCOUNTS)
    keys = {
        "sender": [n.phone_number for n in numbers],
        "carrier": [a.uid for a in accounts],
        "country": COUNTRIES,
        "error_code": ERRORS,
    }
    started = time.perf_counter()
    rows = fill_counts(workspace.pk, messages=args.messages, keys=keys, end=end)
    for i in range(args.others):
        other, other_accounts, other_numbers = make_workspace(f"Small {i}", senders=1, accounts=1)
        small = {
            "sender": [other_numbers[0].phone_number],
            "carrier": [other_accounts[0].uid],
            "country": COUNTRIES[:2],
            "error_code": ERRORS[:2],
        }
        rows += fill_counts(other.pk, messages=max(1000, args.messages // 1000), keys=small, end=end, slots=1)
    made = time.perf_counter() - started
    print(
        f"insights benchmark: {args.messages:,} messages' worth of counts over {DAYS} days in one "
        f"workspace, {args.others} others; {rows:,} counter rows made in {made:.1f} s",
        flush=True,
    )
    if args.no_rollup:
        folded = elapsed = 0.0
    else:  # as the periodic roll-up leaves them: every hour but the last in one row per key
        from messaging.insights.rollup import insights_rollup

        started = time.perf_counter()
        folded = insights_rollup()
        elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE insights_count")
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('insights_count')), COUNT(*) FROM insights_count"
        )
        size, left = cursor.fetchone()
    if folded:
        print(
            f"  roll-up: {folded:,} slot rows folded in {elapsed:.1f} s ({folded / elapsed:,.0f} rows/s); "
            f"{left:,} rows left ({size}); {load()}",
            flush=True,
        )
    worst = time_queries(workspace, runs=args.runs, end=end, freeze=not args.no_gc_freeze, periods=periods)
    print(
        f"  worst p99 {max(worst):.1f} ms (target under 50 ms): {'MET' if max(worst) < 50 else 'NOT MET'}",
        flush=True,
    )
    if args.hook_messages:
        hook_ws, _, hook_numbers = make_workspace("Hook", senders=5, accounts=1)
        print(f"  the counting hook, {args.hook_messages:,} messages:", flush=True)
        time_hook(hook_ws, hook_numbers, count=args.hook_messages)
    if args.rebuild_messages:
        rebuild_ws, _, rebuild_numbers = make_workspace("Rebuild", senders=SENDERS, accounts=ACCOUNTS)
        started = time.perf_counter()
        store_messages(rebuild_ws, rebuild_numbers, args.rebuild_messages, delivered=True)
        stored = time.perf_counter() - started
        started = time.perf_counter()
        rows = insights_rebuild(workspace_ids=[rebuild_ws.pk])
        elapsed = time.perf_counter() - started
        print(
            f"  rebuild: {args.rebuild_messages:,} messages (stored in {stored:.1f} s) recounted in "
            f"{elapsed:.1f} s = {args.rebuild_messages / elapsed:,.0f} messages/s, {rows:,} rows; {load()}",
            flush=True,
        )
    connection.close()
    if not args.keep_db:
        subprocess.run(
            ["psql", PG + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"],
            capture_output=True,
        )
    print(f"  p50 of the worst p99s {statistics.median(worst):.1f} ms", flush=True)


if __name__ == "__main__":
    main()
