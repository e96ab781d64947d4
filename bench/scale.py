"""The hot queries at scale: PostgreSQL filled with millions of messages, each query timed.

Fills its own database (BENCH_DB, dropped and created; never another one) with `--messages`
messages over `--workspaces` workspaces, one of them holding `--big-share` of them (by default
10 million over 1,000, one with 5 million), with their conversations (one per ten messages),
contacts (one per conversation), history rows (queued/sent/final for outbound, received for
inbound) and carrier webhook events (one per inbound, one receipt per finished outbound), spread
over 90 days; 0.3% of them (30,000 of 10 million) are queued, sending or scheduled now, the rows of
those in flight (queued, sending) written last, as a live system writes them.
The fill is set-based SQL (generate_series), with the tables' secondary indexes dropped during the
load and rebuilt from their own definitions after it, then VACUUM ANALYZE.

Then it times, through the platform's own code (Django on the same database), the queries an
endpoint or a task runs: the messages list (count and page, as `GET …/messages` paginates) with
each filter, for the big workspace and a typical one; the conversation list; the contacts list;
the sweep's, the reconciliation's and the carrier-event intake's selects (the exact SQL captured
from one run of each, in a transaction rolled back); and the claim (messages_claim_due, rolled
back each time). Each is run `--runs` times after one warm-up: p50 and p99 in ms, against a target
of 50 ms p99. `--explain` prints the plan (EXPLAIN ANALYZE, BUFFERS) of each query over target.

    BENCH_DB=mp_bench .venv/bin/python bench/scale.py --messages 1000000
    BENCH_DB=mp_bench .venv/bin/python bench/scale.py --reuse            # time again, no refill

Prints the machine's load average with the figures: taken on a shared machine they are "loaded".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from harness import load, percentile  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
TARGET_MS = 50.0
DAYS = 90
WORDS = [
    "order",
    "invoice",
    "delivery",
    "appointment",
    "reminder",
    "payment",
    "refund",
    "ticket",
    "booking",
    "receipt",
]  # one per message body; searched below
# Tables filled in bulk: their secondary indexes are rebuilt after the load.
BULK_TABLES = [
    "messaging_message",
    "messaging_messageevent",
    "messaging_carrierevent",
    "messaging_conversation",
    "messaging_contact",
]


def log(text: str) -> None:
    print(text, flush=True)


# The database --------------------------------------------------------------------------------


def recreate_database() -> None:
    if DB_NAME in ("postgres", "template0", "template1") or not DB_NAME:
        raise SystemExit(f"Refusing to drop the database {DB_NAME!r}: set BENCH_DB to a bench database.")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{DB_NAME}"
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw=")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _filler(column: dict) -> str:
    """A value for a NOT NULL column the fill does not name (columns added later keep working)."""
    kind = column["data_type"]
    if kind in ("character varying", "text"):
        return "''"
    if kind in ("integer", "smallint", "bigint", "double precision", "numeric", "real"):
        return "0"
    if kind == "boolean":
        return "false"
    if kind.startswith("timestamp"):
        return "now()"
    if kind == "jsonb":
        return "'{}'::jsonb"
    raise SystemExit(f"No filler for {column['name']} ({kind}): name it in the fill.")


def insert(conn, table: str, values: dict[str, str], source: str) -> int:
    """INSERT INTO table (…) SELECT … FROM source: `values` maps columns to SQL expressions;
    other NOT NULL columns without a default get a neutral value."""
    columns = conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default, is_identity "
        "FROM information_schema.columns WHERE table_name = %s",
        [table],
    ).fetchall()
    exprs = dict(values)
    for name, data_type, nullable, default, identity in columns:
        if name not in exprs and nullable == "NO" and default is None and identity != "YES":
            exprs[name] = _filler({"name": name, "data_type": data_type})
    names = ", ".join(f'"{c}"' for c in exprs)
    sql = f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs.values())} FROM {source}"  # noqa: S608
    return conn.execute(sql).rowcount


def secondary_indexes(conn, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX …) of the indexes that back no constraint (those stay during the load)."""
    return conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    ).fetchall()


def fill(messages: int, workspaces: int, big_share: float) -> None:
    big = int(messages * big_share)
    rest = messages - big
    per_small = rest // (workspaces - 1)
    started = time.monotonic()
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        dropped = []
        for table in BULK_TABLES:
            for name, definition in secondary_indexes(conn, table):
                conn.execute(f'DROP INDEX "{name}"')
                dropped.append((name, definition))

        # Workspaces w = 0 … W-1 (0 is the big one); M(w) messages, C(w) = M(w)/10 conversations.
        conn.execute(
            "CREATE UNLOGGED TABLE bench_ws AS SELECT w, "
            "'ws_bench' || lpad(w::text, 5, '0') AS id, "
            f"CASE WHEN w = 0 THEN {big} ELSE {per_small} END AS m, "
            f"greatest(1, (CASE WHEN w = 0 THEN {big} ELSE {per_small} END) / 10) AS c, "
            "'+1202' || (2000000 + w)::text AS our "
            f"FROM generate_series(0, {workspaces - 1}) w"
        )
        insert(
            conn,
            "workspaces_workspace",
            {
                "id": "id",
                "name": "'Bench ' || w",
                "account_sid": "'AC' || md5(id)",
                "is_active": "true",
                "timezone": "'UTC'",
                "created_at": "now() - interval '1 year'",
                "updated_at": "now()",
            },
            "bench_ws",
        )
        insert(
            conn,
            "numbers_provideraccount",
            {
                "workspace_id": "id",
                "uid": "'ca_' || substr(md5(id), 1, 22)",
                "is_primary": "true",
                "status": "'active'",
                "provider": "'twilio'",
                "account_sid": "'AC' || md5(id)",
                "auth_token": "''",
                "settings": "'{}'::jsonb",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "bench_ws",
        )
        insert(
            conn,
            "numbers_phonenumber",
            {
                "id": "'pn_' || substr(md5(id), 1, 22)",
                "workspace_id": "id",
                "phone_number": "our",
                "number_type": "'long_code'",
                "sms_enabled": "true",
                "is_default": "true",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "bench_ws",
        )
        log(f"  workspaces, accounts, numbers: {time.monotonic() - started:.0f} s")

        contact = "'+1415' || (2000000 + k)::text"  # valid NANP numbers: the filters check them
        insert(
            conn,
            "messaging_contact",
            {
                "id": "'ct_' || substr(ws.id, 9) || '_' || k",
                "workspace_id": "ws.id",
                "phone_number": contact,
                "name": "CASE WHEN k % 3 = 0 THEN 'Contact ' || k ELSE '' END",
                "fields": "'{}'::jsonb",
                "tags": "CASE WHEN k % 5 = 0 THEN '[\"vip\"]' ELSE '[]' END::jsonb",
                "created_at": f"now() - interval '{DAYS} days' + (k::float / ws.c) * interval '{DAYS} days'",
                "updated_at": "now()",
            },
            "bench_ws ws, generate_series(0, ws.c - 1) k",
        )
        log(f"  contacts: {time.monotonic() - started:.0f} s")

        # Message j of workspace w: conversation j % C(w); direction and status from j's digits;
        # created in order over DAYS (the newest last), live statuses in the last ten minutes.
        status = (
            "CASE WHEN inbound THEN 'received' WHEN h < 850 THEN 'delivered' WHEN h < 880 THEN 'sent' "
            "WHEN h < 910 THEN 'failed' WHEN h < 920 THEN 'undelivered' WHEN h < 921 THEN 'queued' "
            "WHEN h < 922 THEN 'scheduled' WHEN h < 923 THEN 'sending' ELSE 'delivered' END"
        )
        conn.execute(
            "CREATE UNLOGGED TABLE bench_msg AS SELECT *, CASE WHEN status IN ('queued', 'sending', "
            "'scheduled') THEN now() - (h % 600) * interval '1 second' "
            f"ELSE now() - interval '{DAYS} days' + (j::float / m) * interval '{DAYS} days' END AS created "
            f"FROM (SELECT *, {status} AS status FROM (SELECT ws.id AS ws, ws.our, j, ws.m, j % ws.c AS k, "
            "'msg_' || substr(ws.id, 9) || '_' || j AS id, "
            "(j * 7) % 10 IN (2, 5, 8) AS inbound, (j * 2654435761) % 1000 AS h "
            "FROM bench_ws ws, generate_series(0, ws.m - 1) j) planned) with_status"
        )
        log(f"  message plan: {time.monotonic() - started:.0f} s")
        final = "status IN ('delivered', 'sent', 'failed', 'undelivered')"
        body = (
            f"'Your {WORDS[0]} ' || j || ' is confirmed: see example.com/t/' || j || ' - ' || "
            f"(ARRAY{WORDS!r})[1 + j % {len(WORDS)}] || ' ' || md5(id)"
        )
        # A live system wrote its messages in flight last (accepted or claimed in the last
        # minutes), so their rows sit on the table's newest pages, not among 90-day-old ones: the
        # settled ones are written first, filling the pages, then those in flight after them.
        in_flight = "status IN ('queued', 'sending')"
        message_columns = {
            "id": "id",
            "workspace_id": "ws",
            "direction": "CASE WHEN inbound THEN 'inbound' ELSE 'outbound' END",
            "status": "status",
            "to_number": f"CASE WHEN inbound THEN our ELSE {contact} END",
            "from_number": f"CASE WHEN inbound THEN {contact} ELSE our END",
            "messaging_service_sid": "''",
            "body": body,
            # What the database's trigger (off during the load) keeps: messaging.0025.
            "search_text": f"UPPER({body})",
            "media_urls": "'[]'::jsonb",
            "num_segments": "1",
            "encoding": "'GSM-7'",
            "provider_sid": f"CASE WHEN inbound OR {final} THEN 'SM' || md5(id) END",
            "status_callback": "''",
            "error_code": "CASE WHEN status = 'failed' THEN '30003' "
            "WHEN status = 'undelivered' THEN '30005' END",
            "conversation_id": "'conv_' || substr(ws, 9) || '_' || k",
            "scheduled_at": "CASE WHEN status = 'scheduled' THEN now() + interval '1 day' END",
            "sent_at": f"CASE WHEN NOT inbound AND {final} THEN created + interval '1 second' END",
            "delivered_at": "CASE WHEN status = 'delivered' THEN created + interval '5 seconds' END",
            "created_at": "created",
            "updated_at": "created + CASE WHEN status = 'delivered' THEN interval '5 seconds' "
            "ELSE interval '1 second' END",
            "attempts": "CASE WHEN inbound OR status = 'scheduled' THEN 0 ELSE 1 END",
            "claimed_at": "CASE WHEN status = 'sending' THEN now() - interval '5 seconds' END",
            "request_id": "''",
        }
        for rows in (f"NOT ({in_flight})", in_flight):
            insert(conn, "messaging_message", message_columns, f"bench_msg WHERE {rows}")
        log(f"  messages: {time.monotonic() - started:.0f} s")
        # The conversations: their last message is the newest of each (j's last lap around C(w)).
        last = "(k + ((ws.m - 1 - k) / ws.c) * ws.c)"
        insert(
            conn,
            "messaging_conversation",
            {
                "id": "'conv_' || substr(ws.id, 9) || '_' || k",
                "workspace_id": "ws.id",
                "our_number": "ws.our",
                "contact_number": contact,
                "last_message_id": f"'msg_' || substr(ws.id, 9) || '_' || {last}",
                "last_message_at": f"now() - interval '{DAYS} days' + ({last})::float / ws.m "
                f"* interval '{DAYS} days'",
                "unread_count": "k % 3",
                "created_at": f"now() - interval '{DAYS} days'",
            },
            "bench_ws ws, generate_series(0, ws.c - 1) k",
        )
        log(f"  conversations: {time.monotonic() - started:.0f} s")
        for label, where, offset in (
            ("queued", "NOT inbound", "0"),
            ("sent", f"NOT inbound AND {final}", "1"),
            ("status", "NOT inbound AND status IN ('delivered', 'failed', 'undelivered')", "5"),
            ("received", "inbound", "0"),
        ):
            insert(
                conn,
                "messaging_messageevent",
                {
                    "message_id": "id",
                    "status": "status" if label == "status" else f"'{label}'",
                    "source": "CASE WHEN inbound OR "
                    + ("true" if label == "status" else "false")
                    + " THEN 'carrier' ELSE 'worker' END",
                    "created_at": f"created + interval '{offset} seconds'",
                },
                f"bench_msg WHERE {where}",
            )
        log(f"  message history: {time.monotonic() - started:.0f} s")
        insert(
            conn,
            "messaging_carrierevent",
            {
                "id": "'cev_' || substr(id, 5)",
                "workspace_id": "ws",
                "provider": "'twilio'",
                "kind": "CASE WHEN inbound THEN 'inbound' ELSE 'status' END",
                "dedupe_key": "'SM' || md5(id) || CASE WHEN inbound THEN '' ELSE ':' || status END",
                "provider_sid": "'SM' || md5(id)",
                "message_id": "id",
                "params": "jsonb_build_object('MessageSid', 'SM' || md5(id), 'MessageStatus', status)",
                "received_at": "created + interval '5 seconds'",
                "processed_at": "created + interval '6 seconds'",
                "error": "''",
                "attempts": "0",
            },
            "bench_msg WHERE inbound OR status IN ('delivered', 'failed', 'undelivered')",
        )
        log(f"  carrier events: {time.monotonic() - started:.0f} s")
        conn.execute("DROP TABLE bench_msg")
        conn.execute("DROP TABLE bench_ws")
        for _name, definition in dropped:
            conn.execute(definition)
        log(f"  {len(dropped)} indexes rebuilt: {time.monotonic() - started:.0f} s")
        conn.execute("SET session_replication_role = origin")
        conn.execute("VACUUM ANALYZE")
    log(f"Filled {messages:,} messages in {time.monotonic() - started:.0f} s")


def count_lists() -> None:
    """The lists' counters, as the triggers (off during the set-based fill) would have kept them."""
    from django.db import connection

    from messaging.list_counts import list_counts_rebuild

    started = time.monotonic()
    rows = list_counts_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE messaging_listcount")
    log(f"  list counters: {rows:,} rows in {time.monotonic() - started:.0f} s")


# The queries -----------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object, int]:
    """p50 and p99 in ms over `runs` runs after a warm-up; a query slower than 200 ms is run
    five times only (its p99 is then its slowest run), so a slow query does not hold the run up."""
    t0 = time.perf_counter()
    result = fn()  # warm-up
    if time.perf_counter() - t0 > 0.2:
        runs = min(runs, 5)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return percentile(times, 50), percentile(times, 99), result, runs


def drf_request(**params):
    from django.test import RequestFactory
    from rest_framework.request import Request

    return Request(RequestFactory().get("/", {k: str(v) for k, v in params.items()}))


def list_page(queryset_fn: Callable[[], object], **params) -> Callable[[], int]:
    """What a paginated list endpoint does in the database: its count and its page."""
    from messaging_platform.api.pagination import PagePagination

    def run() -> int:
        paginator = PagePagination()
        return len(paginator.paginate_queryset(queryset_fn(), drf_request(**params)))

    return run


def captured(fn: Callable[[], object]) -> list[str]:
    """The statements `fn` issues (as PostgreSQL receives them), in a transaction rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    class Rollback(Exception):
        pass

    with CaptureQueriesContext(connection) as queries:
        try:
            with transaction.atomic():
                fn()
                raise Rollback
        except Rollback:
            pass
    # One of each statement: a task that updates its picks one by one repeats the same UPDATE.
    seen, statements = set(), []
    for query in queries.captured_queries:
        sql = query["sql"]
        shape = re.sub(r"'[^']*'|\b\d+\b", "?", sql)
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")) and shape not in seen:
            seen.add(shape)
            statements.append(sql)
    return statements


def run_sql(sql: str) -> Callable[[], int]:
    """One captured statement, run again (an UPDATE in a transaction rolled back)."""
    from django.db import connection

    def run() -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []

    return rolled_back(run)


def rolled_back(fn: Callable[[], object]) -> Callable[[], int]:
    from django.db import transaction

    class Rollback(Exception):
        pass

    def run() -> int:
        found = []
        try:
            with transaction.atomic():
                found.append(fn())
                raise Rollback
        except Rollback:
            pass
        return len(found[0]) if found and hasattr(found[0], "__len__") else 0

    return run


def explain(fn: Callable[[], object]) -> str:
    """EXPLAIN ANALYZE of the statements `fn` issues (the slowest one's plan is what matters)."""
    from django.db import connection

    plans = []
    for sql in captured(fn):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


def queries() -> list[tuple[str, Callable[[], object]]]:
    from messaging import contacts, lifecycle, selectors
    from messaging.carrier_events import carrier_events_apply
    from messaging.models import Conversation, Message
    from messaging.sweeps import reconcile_sent_messages, sweep_messages
    from workspaces.models import Workspace

    big = Workspace.objects.get(pk="ws_bench00000")
    small = Workspace.objects.get(pk="ws_bench00500")
    found = []
    for label, ws in (("big", big), ("typical", small)):
        sample = Message.objects.filter(workspace=ws, direction="outbound").order_by("-created_at").first()
        conversation = Conversation.objects.filter(workspace=ws).order_by("-last_message_at").first()
        newest = sample.created_at
        day = newest.date().isoformat()
        month_ago = (newest - timedelta(days=30)).isoformat()

        def messages(ws=ws, **filters):
            return lambda: selectors.message_list(workspace=ws, filters=filters)

        for name, filters, page in (
            ("messages, no filter", {}, 1),
            ("messages, no filter, page 200", {}, 200),
            ("messages, no filter, page 2,000", {}, 2000),
            ("messages, status=failed", {"status": "failed"}, 1),
            ("messages, status=queued", {"status": "queued"}, 1),
            ("messages, direction=inbound", {"direction": "inbound"}, 1),
            ("messages, to=<contact>", {"to": sample.to_number}, 1),
            ("messages, from=<contact>", {"from": sample.to_number}, 1),
            ("messages, from=<our number>", {"from": sample.from_number}, 1),
            ("messages, search=refund", {"search": "refund"}, 1),
            ("messages, search=refund, page 20", {"search": "refund"}, 20),
            ("messages, search=<rare>", {"search": sample.body[-32:-20]}, 1),
            ("messages, startDate..endDate (one day)", {"startDate": day, "endDate": day}, 1),
            ("messages, startDate=<30 days ago>", {"startDate": month_ago}, 1),
            ("messages, status=failed + 30 days", {"status": "failed", "startDate": month_ago}, 1),
            ("messages, conversation=<id>", {"conversation": conversation.pk}, 1),
            (
                "messages, status=delivered + one day",
                {"status": "delivered", "startDate": day, "endDate": day},
                1,
            ),
        ):
            found.append((f"{label}: {name}", list_page(messages(**filters), page=page, limit=50)))
        found.append(
            (
                f"{label}: conversations",
                list_page(lambda ws=ws: selectors.conversation_list(workspace=ws), page=1, limit=50),
            )
        )
        found.append(
            (
                f"{label}: contacts",
                list_page(lambda ws=ws: contacts.contact_list(workspace=ws), page=1, limit=50),
            )
        )
        found.append(
            (
                f"{label}: contacts, search",
                list_page(
                    lambda ws=ws: contacts.contact_list(workspace=ws, search="Contact 12"), page=1, limit=50
                ),
            )
        )
        found.append(
            (
                f"{label}: contacts, search=<a number's last 7 digits>",
                list_page(
                    lambda ws=ws, digits=sample.to_number[-7:]: contacts.contact_list(
                        workspace=ws, search=digits
                    ),
                    page=1,
                    limit=50,
                ),
            )
        )
    found.append(
        (
            "claim: messages_claim_due(limit=100)",
            rolled_back(lambda: lifecycle.messages_claim_due(limit=100, announce=False)),
        )
    )
    for name, task in (
        ("sweep", sweep_messages),
        ("reconciliation", reconcile_sent_messages),
        ("carrier events intake", carrier_events_apply),
    ):
        # Their selects (the writes that follow are the work a select found, not a lookup).
        selects = [sql for sql in captured(task) if not sql.lstrip().upper().startswith("UPDATE")]
        for i, sql in enumerate(selects):
            found.append((f"{name}, select {i + 1}: {sql[:28]}…", run_sql(sql)))
    return found


def measure(runs: int, show_plans: bool, only: str | None = None) -> list[tuple[str, float, float, int]]:
    rows = []
    log(f"{'query':<62} {'p50 ms':>8} {'p99 ms':>8} {'rows':>6} {'runs':>5}")
    for name, fn in queries():
        if only and only not in name:
            continue
        p50, p99, result, done = timed(fn, runs)
        count = result if isinstance(result, int) else 0
        mark = "" if p99 <= TARGET_MS else "  over target"
        log(f"{name:<62} {p50:>8.1f} {p99:>8.1f} {count:>6} {done:>5}{mark}")
        rows.append((name, p50, p99, count))
        if show_plans and p99 > TARGET_MS:
            log(explain(fn))
    return rows


def sizes() -> None:
    """Bytes per message on disk: the figure to plan storage by (docs/scaling.md)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_message")
        count = cursor.fetchone()[0] or 1
        for table in BULK_TABLES:
            cursor.execute("SELECT pg_table_size(%s), pg_indexes_size(%s)", [table, table])
            heap, indexes = cursor.fetchone()
            log(
                f"  {table:<26} {heap / 2**20:>9,.0f} MB table {indexes / 2**20:>9,.0f} MB indexes "
                f"({(heap + indexes) / count:,.0f} bytes per message)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--big-share", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep the filled database; time only")
    parser.add_argument("--explain", action="store_true", help="print the plans of what misses")
    parser.add_argument("--only", help="time only the queries whose name holds this text (e.g. search)")
    args = parser.parse_args()
    log(f"bench/scale.py on {DB_NAME}: {args.messages:,} messages, {args.workspaces:,} workspaces; {load()}")
    if not args.reuse:
        recreate_database()
    setup_django()
    migrate()  # on --reuse too: new index migrations apply to the filled tables
    if not args.reuse:
        fill(args.messages, args.workspaces, args.big_share)
        count_lists()
    sizes()
    rows = measure(args.runs, args.explain, args.only)
    over = [name for name, _, p99, _ in rows if p99 > TARGET_MS]
    log(f"{len(rows) - len(over)} of {len(rows)} queries under {TARGET_MS:.0f} ms p99; {load()}")
    if over:
        log("Over target: " + "; ".join(over))


if __name__ == "__main__":
    main()
