"""SMPP end to end: from `POST /api/messages` (single sends, open loop) and `POST
/api/messages/batch` (1,000 a request) to the fake SMSC receiving the submit_sm, through the bind
process (`manage.py smpp_binds`), with delivery receipts sent back and applied by the workers.
Prints messages/s, p50/p99 POST -> SMSC, and the CPU of every process per message.

    make bench-smpp                      # from a fresh clone: sets up .venv, then runs
    make bench-smpp ARGS="--batch 500 --rate 20 --duration 3"   # a small check
    .venv/bin/python bench/smpp.py [--batch 5000] [--rate 100] [--duration 10] [--window 50]

It needs PostgreSQL and Redis (BENCH_PG, default postgres://postgres@127.0.0.1:5432; BENCH_DB,
default `bench`, dropped and created; BENCH_REDIS_URL, default redis://127.0.0.1:6379/9, flushed).

The machine may be shared: the CPU per message of each process is the figure that holds; the
wall-clock rates are provisional.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import threading
import time

import psutil
import requests
from harness import DB_NAME, PG, Platform, _cpu, _pg_backends, contact, load, ms, open_loop, percentile

SYSTEM_ID, PASSWORD = "bench", "bench-pw"


def _smsc_main(conn, receipts: bool) -> None:
    """The fake SMSC in a process of its own (so that its CPU is not the platform's)."""
    from messaging_platform.testing.fake_smsc import FakeSmsc

    smsc = FakeSmsc(receipts=receipts).start()
    smsc.add_account(SYSTEM_ID, PASSWORD)
    conn.send(smsc.port)
    offset = time.time() - time.monotonic()
    seen, counted = 0, {}  # parts counted so far, by the first letter of their text
    while True:
        command, argument = conn.recv()
        if command == "stop":
            smsc.stop()
            conn.send(None)
            return
        if command == "received":  # {tag-number: wall time} of the parts whose text starts with tag
            conn.send(
                {
                    p.text.split()[0]: p.received_monotonic + offset
                    for p in list(smsc.parts)
                    if p.text.startswith(argument)
                }
            )
        elif command == "count":  # how many parts' text starts with the tag (read once each)
            end = len(smsc.parts)  # the SMSC's thread appends meanwhile
            for part in smsc.parts[seen:end]:
                counted[part.text[:1]] = counted.get(part.text[:1], 0) + 1
            seen = end
            conn.send(counted.get(argument, 0))
        elif command == "stats":
            conn.send(
                {
                    "parts": len(smsc.parts),
                    "duplicates": len(smsc.duplicate_parts()),
                    "binds": len(smsc.binds),
                    "receipts_acked": len(smsc.receipts_acked),
                }
            )


class Smsc:
    def __init__(self, receipts: bool):
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_smsc_main, args=(child, receipts), daemon=True
        )
        self.process.start()
        self.port = self.conn.recv()
        self.lock = threading.Lock()

    def call(self, command: str, argument=None):
        with self.lock:
            self.conn.send((command, argument))
            return self.conn.recv()

    def stop(self) -> None:
        self.call("stop")
        self.process.join(5)


def cpu_per_message(platform: Platform, smsc: Smsc, marks: dict[int, float], count: int) -> None:
    groups = [(proc.name, proc.tree()) for proc in platform.all_procs()]
    groups.append(("fake-smsc", [psutil.Process(smsc.process.pid)]))
    groups.append(("postgres", _pg_backends()))  # this database's backends (new ones: all theirs)
    total = 0.0
    for name, tree in groups:
        used = sum(_cpu(p) - marks.get(p.pid, 0.0) for p in tree)
        total += used
        print(
            f"    {name:<12} {1000 * used / max(1, count):6.2f} ms CPU per message "
            f"({used:.1f} s over {len(tree)} process(es))",
            flush=True,
        )
    print(f"    {'all':<12} {1000 * total / max(1, count):6.2f} ms CPU per message", flush=True)


def measure_marks(platform: Platform, smsc: Smsc) -> dict[int, float]:
    ps = [p for proc in platform.all_procs() for p in proc.tree()] + [psutil.Process(smsc.process.pid)]
    ps += _pg_backends()
    return {p.pid: _cpu(p) for p in ps}


def _psql(sql: str) -> list[list[str]]:
    result = subprocess.run(["psql", f"{PG}/{DB_NAME}", "-AtF|", "-c", sql], capture_output=True, text=True)
    return [line.split("|") for line in result.stdout.splitlines() if line]


def db_counters() -> dict[str, float]:
    """The database's transactions and each table's rows written so far (inserts, updates and of
    them those that wrote no index entry (HOT), deletes): PostgreSQL's cumulative statistics."""
    time.sleep(11)  # an idle backend flushes its statistics within 10 s (PGSTAT_IDLE_INTERVAL)
    counters = {
        "commits": float(_psql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{DB_NAME}'")[0][0])
    }
    for name, ins, upd, hot, dele in _psql(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
    ):
        for kind, value in (("insert", ins), ("update", upd), ("update (HOT)", hot), ("delete", dele)):
            if int(value):
                counters[f"{name} {kind}"] = float(value)
    return counters


def writes_per_message(before: dict[str, float], count: int) -> None:
    after = db_counters()
    print(f"    database, per message ({count} messages, until their last receipt was applied):", flush=True)
    for key in sorted(after):
        change = after[key] - before.get(key, 0.0)
        if change:
            print(f"      {key:<40} {change / max(1, count):6.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=5000, help="messages sent through the batch endpoint")
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100, help="single sends per second (open loop)")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--round-size", type=int, default=500, help="SMPP_BATCH_SIZE: a round's claim")
    parser.add_argument("--runners", type=int, default=3, help="SMPP_ROUND_RUNNERS: rounds at once")
    parser.add_argument("--no-receipts", action="store_true")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--worker-processes", type=int, default=1)
    args = parser.parse_args()

    smsc = Smsc(receipts=not args.no_receipts)
    try:
        with Platform(
            web_workers=args.web_workers,
            worker_processes=args.worker_processes,
            worker_concurrency=16,
            callbacks=False,
            settings={
                "SMPP_WINDOW": str(args.window),
                "SMPP_BATCH_SIZE": str(args.round_size),
                "SMPP_ROUND_RUNNERS": str(args.runners),
            },
        ) as platform:
            from numbers.models import ProviderAccount

            ProviderAccount.objects.filter(workspace_id=platform.workspace_id).update(
                provider="smpp",
                account_sid="",
                auth_token="",
                settings={"host": "127.0.0.1", "port": smsc.port, "system_id": SYSTEM_ID},
            )
            account = ProviderAccount.objects.get(workspace_id=platform.workspace_id)
            account.auth_token = PASSWORD
            account.save()
            platform.banner("SMPP end to end")
            print(
                f"   bind process: 1 bind, window {args.window}, {args.runners} rounds of up to "
                f"{args.round_size} at once; receipts "
                f"{'off' if args.no_receipts else 'on'}",
                flush=True,
            )
            platform.start_workers()
            platform._start("binds", [sys.executable, "manage.py", "smpp_binds"])
            platform.wait_for(lambda: smsc.call("stats")["binds"] >= 1, timeout=30)

            # Batch: 1,000 messages a request, from a few clients at once.
            counters = db_counters()
            marks = measure_marks(platform, smsc)
            platform.mark()
            started = time.monotonic()
            starts: dict[int, float] = {}

            def client(first: int) -> None:
                for begin in range(first * 1000, args.batch, 1000 * args.batch_clients):
                    messages = [
                        {"to": contact(n), "body": f"b{n:07d} batch message over SMPP"}
                        for n in range(begin, min(args.batch, begin + 1000))
                    ]
                    starts[begin] = time.time()
                    response = requests.post(
                        f"{platform.url}/api/messages/batch",
                        json={"messages": messages},
                        headers=platform.headers(),
                        timeout=300,
                    )
                    response.raise_for_status()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.batch_clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            accepted_in = time.monotonic() - started
            platform.wait_for(lambda: smsc.call("count", "b") >= args.batch, timeout=600, interval=0.2)
            received = smsc.call("received", "b")
            elapsed = time.monotonic() - started
            latencies = [at - starts[(int(key[1:]) // 1000) * 1000] for key, at in received.items()]
            times = sorted(received.values())
            print(
                f"  batch: {len(received)}/{args.batch} reached the SMSC in {elapsed:.1f} s from the first "
                f"POST = {len(received) / elapsed:.0f} messages/s (accepted in {accepted_in:.1f} s; SMSC "
                f"received {len(times) / max(1e-9, times[-1] - times[0]):.0f}/s from first to last); "
                f"POST->SMSC p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}; "
                f"{load()}",
                flush=True,
            )
            cpu_per_message(platform, smsc, marks, len(received))
            platform.report("batch")
            if not args.no_receipts:
                from messaging.models import Message

                platform.wait_for(
                    lambda: Message.objects.filter(body__startswith="b", status="delivered").count()
                    >= args.batch,
                    timeout=120,
                    interval=0.5,
                )
                print(
                    f"  batch, until every message was delivered: {time.monotonic() - started:.1f} s "
                    f"from the first POST",
                    flush=True,
                )
                cpu_per_message(platform, smsc, marks, len(received))
            writes_per_message(counters, len(received))

            # Single sends, open loop.
            url, headers = f"{platform.url}/api/messages", platform.headers()

            async def send(session, i):
                async with session.post(
                    url, json={"to": contact(i), "body": f"s{i:07d} single over SMPP"}, headers=headers
                ) as response:
                    await response.read()
                    return response.status, None

            marks = measure_marks(platform, smsc)
            platform.mark()
            started = time.monotonic()
            results, lag = open_loop(args.rate, args.duration, send)
            accepted = sum(1 for r in results if r.status == 201)
            platform.wait_for(lambda: smsc.call("count", "s") >= accepted, timeout=120, interval=0.2)
            received = smsc.call("received", "s")
            offset = time.time() - time.monotonic()
            by_index = sorted(results, key=lambda r: r.scheduled)
            latencies = [
                received[f"s{i:07d}"] - (r.scheduled + offset)
                for i, r in enumerate(by_index)
                if f"s{i:07d}" in received
            ]
            print(
                f"  single, offered {args.rate:.0f}/s for {args.duration:.0f} s: "
                f"{len(received)}/{len(results)} "
                f"reached the SMSC (accepted {accepted}, generator lag {lag * 1000:.0f} ms); POST->SMSC "
                f"p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}; drained "
                f"{time.monotonic() - started:.1f} s after the first POST; {load()}",
                flush=True,
            )
            cpu_per_message(platform, smsc, marks, len(received))
            platform.report("single")
            time.sleep(3)  # the last receipts
            print(f"  smsc: {smsc.call('stats')}", flush=True)
    finally:
        smsc.stop()


if __name__ == "__main__":
    main()
