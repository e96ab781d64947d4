"""What PostgreSQL pays per message row: a broadcast's inserts and a delivery's status changes.

Runs, straight in SQL on BENCH_DB (a migrated database of its own, created here; never another
one), what the platform's statements do to the messages table, in batches of `--batch`: the
broadcast's one insert of conversations, messages and their first history rows (and its commit,
where the deferred foreign keys are checked), then the delivery's three status changes (queued →
sending → sent → delivered), each an UPDATE of the batch with its history rows. The table is
filled with `--preload` messages first (untimed), so the indexes are not tiny.

Prints the CPU time of the database backend per message for each step: a figure that survives a
shared machine, where rates do not.

    BENCH_DB=bench_rows .venv/bin/python bench/rows.py --messages 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "bench_rows")

WS = "ws_rows"
STEPS = ("insert + commit", "queued -> sending", "sending -> sent", "sent -> delivered")


def prepare() -> None:
    if DB_NAME in ("postgres", "template0", "template1") or not DB_NAME:
        raise SystemExit(f"Refusing to drop the database {DB_NAME!r}: set BENCH_DB to a bench database.")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = dict(
        os.environ,
        DATABASE_URL=f"{PG}/{DB_NAME}",
        DEBUG="true",
        SECRET_KEY="bench-only-secret-key-" + "x" * 40,
    )
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "migrate", "-v0"], env=env, check=True, cwd=BASE_DIR
    )
    sys.path.insert(0, str(BASE_DIR / "bench"))
    from scale import insert  # noqa: PLC0415  (the fill's helper: neutral values for other columns)

    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE one AS SELECT '{WS}'::text AS id")
        now = "now()"
        insert(conn, "workspaces_workspace", {"id": "id", "name": "'rows'", "created_at": now}, "one")
        insert(conn, "accounts_user", {"id": "'usr_rows'", "email": "'rows@example.com'"}, "one")
        insert(
            conn,
            "numbers_provideraccount",
            {
                "workspace_id": "id",
                "uid": "'ca_rows'",
                "is_primary": "true",
                "provider": "'twilio'",
                "settings": "'{}'::jsonb",
            },
            "one",
        )
        insert(
            conn,
            "messaging_broadcast",
            {
                "id": "'bc_rows'",
                "workspace_id": "id",
                "audience": "'{}'::jsonb",
                "skipped": "'{}'::jsonb",
                "status": "'sending'",
                "created_by_id": "'usr_rows'",
            },
            "one",
        )


def batch_statements(batch: int, seq: int) -> list[str]:
    """The statements of batch `seq`: one transaction each."""
    ids = f"generate_series({seq * batch}, {(seq + 1) * batch - 1}) j"
    msg = "'msg_rows_' || lpad(j::text, 9, '0')"
    account = "(SELECT id FROM numbers_provideraccount WHERE uid = 'ca_rows')"
    event = (
        "INSERT INTO messaging_messageevent (message_id, status, source, created_at) "
        "SELECT {msg}, '{status}', 'worker', now() FROM {ids}"
    )
    insert = f"""
        WITH conv AS (
            INSERT INTO messaging_conversation (id, workspace_id, our_number, contact_number,
                last_message_id, last_message_at, unread_count, created_at)
            SELECT 'conv_rows_' || j, '{WS}', '+12025550100', '+1415' || (2000000 + j), {msg}, now(), 0, now()
            FROM {ids} RETURNING id, contact_number
        ), stored AS (
            INSERT INTO messaging_message (id, workspace_id, direction, status, to_number, from_number,
                messaging_service_sid, body, media_urls, num_segments, encoding, status_callback,
                conversation_id, created_at, updated_at, attempts, request_id, broadcast_id, sent_by_id,
                carrier_account_id)
            SELECT {msg}, '{WS}', 'outbound', 'queued', '+1415' || (2000000 + j), '+12025550100', '',
                'Your order ' || j || ' is confirmed', '[]', 1, 'GSM-7', '', conv.id, now(), now(), 0, '',
                'bc_rows', 'usr_rows', {account}
            FROM {ids} JOIN conv ON conv.contact_number = '+1415' || (2000000 + j)
            RETURNING id
        )
        {event.format(msg=msg, status="queued", ids=ids)}
    """  # noqa: S608
    where = f"id IN (SELECT {msg} FROM {ids})"
    return [
        insert,
        f"UPDATE messaging_message SET status = 'sending', claimed_at = now(), attempts = attempts + 1, "
        f"updated_at = now() WHERE {where}; " + event.format(msg=msg, status="sending", ids=ids),
        f"UPDATE messaging_message SET status = 'sent', provider_sid = 'SM' || md5(id), sent_at = now(), "
        f"claimed_at = NULL, updated_at = now() WHERE {where}; "
        + event.format(msg=msg, status="sent", ids=ids),
        f"UPDATE messaging_message SET status = 'delivered', delivered_at = now(), updated_at = now() "
        f"WHERE {where}; " + event.format(msg=msg, status="delivered", ids=ids),
    ]


def run(conn, batch: int, first: int, batches: int) -> list[float]:
    backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    spent = [0.0] * len(STEPS)
    for seq in range(first, first + batches):
        for step, sql in enumerate(batch_statements(batch, seq)):
            before = sum(backend.cpu_times()[:2])
            with conn.transaction():
                conn.execute(sql)
            spent[step] += sum(backend.cpu_times()[:2]) - before
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--preload", type=int, default=200_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database (time more batches)")
    parser.add_argument("--first", type=int, default=0, help="with --reuse: the first batch's number")
    args = parser.parse_args()
    if not args.reuse:
        prepare()
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        preload = args.preload // args.batch
        if not args.reuse:
            started = time.monotonic()
            run(conn, args.batch, 0, preload)
            conn.execute("VACUUM ANALYZE")
            print(
                f"preloaded {preload * args.batch:,} messages in {time.monotonic() - started:.0f} s",
                flush=True,
            )
        first = args.first or preload
        batches = args.messages // args.batch
        spent = run(conn, args.batch, first, batches)
    count = batches * args.batch
    print(
        f"PostgreSQL backend CPU per message ({count:,} messages in batches of {args.batch:,}; "
        f"load {os.getloadavg()[0]:.1f}):"
    )
    for step, seconds in zip(STEPS, spent, strict=True):
        print(f"  {step:<20} {seconds / count * 1e6:8.1f} us")
    print(f"  {'all':<20} {sum(spent) / count * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
