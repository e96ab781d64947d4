"""Benchmark: campaigns at 100,000 contacts. A CSV of 100,000 contacts is imported through the UI
API (timed until the import is `completed`), then a broadcast with a template goes to all of them
(timed until every message is stored, and then until every message reached the carrier), with the
CPU and memory of every process.

    .venv/bin/python bench/campaigns.py [--contacts 100000] [--no-deliver]
"""

import argparse
import time

import requests
from harness import Platform, load


def contacts_csv(count: int) -> bytes:
    rows = ["phone_number,name,city,tags"]
    cities = ["Paris", "Lyon", "Austin", "Denver", "Boston"]
    for n in range(count):
        # Five area codes of the US, 20,000 numbers each over two exchanges: 100,000 distinct
        # valid numbers.
        block = n // 5
        rows.append(f"+1{[415, 212, 312, 617, 303][n % 5]}{201 + block // 10000}{block % 10000:04d},"
                    f"Person {n},{cities[n % 5]},"
                    f"{'vip' if n % 10 == 0 else 'all'}")
    return ("\n".join(rows) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=50)
    parser.add_argument("--no-deliver", action="store_true", help="stop once the messages are stored")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    if args.contacts > 100_000:
        parser.error("at most 100,000 contacts (one import)")

    with Platform(worker_processes=args.worker_processes, worker_concurrency=args.worker_concurrency,
                  callbacks=False) as platform:
        platform.banner("campaigns")
        from accounts.models import User
        from accounts.services import session_token_issue
        from messaging.models import Broadcast, Message

        token = session_token_issue(user=User.objects.get(email="bench@example.com")).token
        headers = {"Authorization": f"Bearer {token}"}
        base = f"{platform.url}/api/ui/workspaces/{platform.workspace_id}"
        platform.start_workers()
        body = contacts_csv(args.contacts)
        platform.mark()

        started = time.monotonic()
        response = requests.post(f"{base}/contacts/import", data=body, timeout=120,
                                 headers={**headers, "Content-Type": "text/csv"})
        response.raise_for_status()
        answered = time.monotonic() - started
        import_id = response.json()["id"]

        def imported() -> bool:
            job = requests.get(f"{base}/contacts/import/{import_id}", headers=headers, timeout=30).json()
            return job["status"] != "running"

        platform.wait_for(imported, args.timeout, interval=0.5)
        elapsed = time.monotonic() - started
        job = requests.get(f"{base}/contacts/import/{import_id}", headers=headers, timeout=30).json()
        print(f"  import of {args.contacts:,} rows ({len(body) / 1e6:.1f} MB): answered in "
              f"{answered * 1000:.0f} ms, {job['status']} in {elapsed:.1f} s = "
              f"{args.contacts / elapsed:,.0f} rows/s; created {job['created']:,}, errors "
              f"{job['errors_count']}; {load()}", flush=True)
        platform.report("import")

        platform.mark()
        started = time.monotonic()
        response = requests.post(f"{base}/broadcasts", timeout=120, headers=headers, json={
            "name": "Bench launch", "body": "Hi {{name}}, news from {{city}}: 20% off this week.",
            "audience": {"all": True}})
        response.raise_for_status()
        broadcast_id = response.json()["id"]
        answered = time.monotonic() - started
        platform.wait_for(lambda: Broadcast.objects.get(pk=broadcast_id).generated, args.timeout)
        stored = time.monotonic() - started
        made = Message.objects.filter(broadcast_id=broadcast_id).count()
        print(f"  broadcast to {args.contacts:,}: answered in {answered * 1000:.0f} ms, {made:,} "
              f"messages stored and queued in {stored:.1f} s = {made / stored:,.0f} msgs/s; {load()}",
              flush=True)
        platform.report("broadcast created")
        if args.no_deliver:
            return
        platform.mark()
        platform.wait_for(lambda: platform.carrier.call("count") >= made, args.timeout, interval=0.5)
        sent = platform.carrier.call("count")
        delivered_in = time.monotonic() - started
        print(f"  {sent:,}/{made:,} reached the carrier {delivered_in:.1f} s after the broadcast was "
              f"made = {sent / delivered_in:,.0f} msgs/s end to end; {load()}", flush=True)
        platform.report("broadcast delivered")
        stats = platform.carrier.call("stats")
        print(f"  carrier: {stats['duplicates']} duplicate sends", flush=True)


if __name__ == "__main__":
    main()
