"""Soak: the private platform (own PostgreSQL and Redis, gunicorn, a Celery worker with beat, the
fake Twilio posting signed status callbacks) under steady sends with inbound webhooks mixed in.

    .venv/bin/python bench/soak.py                  # 30 minutes
    .venv/bin/python bench/soak.py --minutes 3 --rate 40

First it measures the accept maximum for 10 s (unless --rate is given) and then runs at half of it.
Every minute it prints: sends, errors, p50/p99 API latency, and the resident memory of each
process (web, worker). At the end: lost messages (accepted, not delivered), duplicates sent to the
carrier, inbound stored, and the memory drift of each process from minute 1 to the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messaging_platform.testing.fake_twilio import FakeTwilio  # noqa: E402
from messaging_platform.testing.stack import (  # noqa: E402
    OUR_NUMBER,
    PrivatePostgres,
    PrivateRedis,
    Stack,
)

INBOUND_EVERY = 5  # one inbound webhook per five sends

# The soak runs the production shape and defaults (the Procfile's four web workers, a worker of 32
# threads, DATABASE_POOL for every process, the default sweep, lease and staleness), not the fault tests' fast
# recovery settings: it measures the platform as deployed.
PRODUCTION_ENV = {
    "SWEEP_INTERVAL_SECONDS": "15",
    "QUEUED_STALE_SECONDS": "60",
    "SEND_LEASE_SECONDS": "120",
    "SEND_RETRY_BASE_SECONDS": "2",
    "SEND_RETRY_MAX_SECONDS": "300",
    "SEND_MAX_ATTEMPTS": "8",
    "CELERY_VISIBILITY_TIMEOUT": "3600",
    "TWILIO_HTTP_TIMEOUT": "10",
    "DATABASE_POOL": "true",
}


def contact(n: int) -> str:
    """A different recipient per message, as real traffic spreads over many conversations."""
    return f"+1415{2000000 + n % 7000000:07d}"


def rss_mb(stack: Stack, name: str) -> float:
    import psutil

    total = 0
    for pid in stack.pids(name):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += psutil.Process(pid).memory_info().rss
    return round(total / 2**20, 1)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)


def measure_max(url: str, headers: dict, seconds: float = 10, threads: int = 8) -> float:
    counter, stop = itertools.count(), time.monotonic() + seconds
    done = Counter()

    def loop() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            r = session.post(
                url, json={"to": contact(next(counter)), "body": "max"}, headers=headers, timeout=15
            )
            done[r.status_code] += 1

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(loop)
    return done[201] / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, help="sends per second (default: half the maximum)")
    args = parser.parse_args()
    with PrivatePostgres() as pg, PrivateRedis() as redis, FakeTwilio(callbacks=True) as fake:
        stack = Stack(pg, redis, fake, web_workers=4, extra_env=PRODUCTION_ENV).prepare()
        seeded = stack.seed()
        stack.start_web()
        stack.start_worker(concurrency=32)
        try:
            run(stack, fake, seeded, args)
        finally:
            stack.stop()


def run(stack: Stack, fake: FakeTwilio, seeded, args) -> None:
    from django.db import connection

    from messaging.models import Message, Status

    url, headers = stack.url + "/api/messages", {"Authorization": f"Bearer {seeded.api_key}"}
    measured = None
    if args.rate is None:
        measured = measure_max(url, headers)
        rate = measured / 2
    else:
        rate = args.rate
    print(
        json.dumps(
            {
                "accept_max_per_s": measured and round(measured, 1),
                "soak_rate_per_s": round(rate, 1),
                "minutes": args.minutes,
            }
        ),
        flush=True,
    )
    fake.reset()
    inbound_url = f"{stack.url}/webhooks/twilio/{seeded.workspace_id}/inbound"
    lock = threading.Lock()
    accepted: list[str] = []
    errors: Counter = Counter()
    window: list[float] = []
    counter = itertools.count()
    inbound_ok = 0
    local = threading.local()

    def one(n: int) -> None:
        nonlocal inbound_ok
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        started = time.monotonic()
        try:
            r = session.post(url, json={"to": contact(n), "body": f"soak {n}"}, headers=headers, timeout=15)
            ok = r.status_code == 201
            key = None if ok else str(r.status_code)
        except requests.RequestException as exc:
            ok, key = False, type(exc).__name__
        elapsed = time.monotonic() - started
        with lock:
            window.append(elapsed)
            if ok:
                accepted.append(r.json()["id"])
            else:
                errors[key] += 1
        if n % INBOUND_EVERY == 0:
            response = fake.post_inbound(
                inbound_url,
                account_sid=seeded.account_sid,
                from_number=f"+1415555{n % 10000:04d}",
                to_number=OUR_NUMBER,
                body=f"reply {n}",
            )
            with lock:
                if response.status_code == 200:
                    inbound_ok += 1
                else:
                    errors[f"inbound {response.status_code}"] += 1

    minutes: list[dict] = []
    end = time.monotonic() + args.minutes * 60
    next_report = time.monotonic() + 60
    interval = 1 / rate
    with ThreadPoolExecutor(32) as pool:
        tick = time.monotonic()
        while time.monotonic() < end:
            pool.submit(one, next(counter))
            tick += interval
            time.sleep(max(0.0, tick - time.monotonic()))
            if time.monotonic() >= next_report:
                with lock:
                    latencies, window[:] = list(window), []
                    row = {
                        "minute": len(minutes) + 1,
                        "sends": len(latencies),
                        "errors": sum(errors.values()),
                        "p50_ms": percentile(latencies, 0.5),
                        "p99_ms": percentile(latencies, 0.99),
                        "rss_web_mb": rss_mb(stack, "web"),
                        "rss_worker_mb": rss_mb(stack, "worker"),
                    }
                minutes.append(row)
                print(json.dumps(row), flush=True)
                next_report += 60
    connection.close()
    final = {Status.DELIVERED, Status.FAILED, Status.UNDELIVERED}
    # Drain: wait while the backlog still moves (bounded: 10 minutes, or 60 s without progress).
    deadline, done, last_progress = time.monotonic() + 600, -1, time.monotonic()
    drain_started = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last_progress < 60:
        now_done = Message.objects.filter(pk__in=accepted, status__in=final).count()
        if now_done == len(accepted):
            break
        if now_done > done:
            done, last_progress = now_done, time.monotonic()
        time.sleep(1)
    drain_seconds = round(time.monotonic() - drain_started, 1)
    rows = Message.objects.filter(pk__in=accepted)
    first, last = (minutes[0], minutes[-1]) if minutes else ({}, {})
    print(
        json.dumps(
            {
                "accepted": len(accepted),
                "errors": dict(errors),
                "drain_seconds": drain_seconds,
                "delivered": rows.filter(status=Status.DELIVERED).count(),
                "failed": rows.filter(status__in=[Status.FAILED, Status.UNDELIVERED]).count(),
                "lost": rows.exclude(status__in=final).count(),
                "duplicates_sent_to_carrier": sum(n - 1 for n in fake.duplicate_sends().values()),
                "inbound_accepted": inbound_ok,
                "inbound_stored": Message.objects.filter(direction="inbound").count(),
                "rss_drift_web_mb": round(last.get("rss_web_mb", 0) - first.get("rss_web_mb", 0), 1),
                "rss_drift_worker_mb": round(last.get("rss_worker_mb", 0) - first.get("rss_worker_mb", 0), 1),
                "p99_ms_by_minute": [m["p99_ms"] for m in minutes],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
