"""Benchmark: campaigns at 100,000 contacts. A CSV of 100,000 contacts is imported through the UI
API (timed until the import is `completed`), then a broadcast with a template goes to all of them
(timed until every message is stored and queued, and then until every message reached the
carrier, sent from the workspace's default short code with its rate raised, as the drain
benchmark sends), with the CPU of every process and the peak memory of the web and worker
processes sampled throughout against their limits.

    .venv/bin/python bench/campaigns.py [--contacts 100000] [--no-deliver] [--creation-alone]

`--creation-alone` measures the creation with no delivery beside it (the workers run no delivery
runner: DISPATCH_RUNNERS_PER_PROCESS=0) and stops once the messages are stored; without it,
delivery of the first slices runs beside the creation on the same cores, as it does in service.
"""

import argparse
import threading
import time

import phonenumbers
import psutil
import requests
from harness import SHORT_CODE, Platform, load, percentile

# The memory limits of docs/performance.md, per process.
LIMITS_MB = {"web": 150, "worker": 250}
AREA_CODES = [415, 212, 312, 617, 303]  # Los Angeles, New York, Chicago, New York and Denver zones


def contact_number(n: int) -> str:
    """The n-th contact's number: five area codes in turn, 20,000 numbers each over the exchanges
    201 and 202 (a valid central office code; 555 would not be), line numbers 0000-9999."""
    block = n // len(AREA_CODES)
    return f"+1{AREA_CODES[n % len(AREA_CODES)]}{201 + block // 10000}{block % 10000:04d}"


def contacts_csv(count: int) -> bytes:
    rows = ["phone_number,name,city,tags"]
    cities = ["Paris", "Lyon", "Austin", "Denver", "Boston"]
    for n in range(count):
        rows.append(f"{contact_number(n)},Person {n},{cities[n % 5]},{'vip' if n % 10 == 0 else 'all'}")
    return ("\n".join(rows) + "\n").encode()


def check_numbers(count: int) -> None:
    """Every generated number is distinct and valid by the same library the import uses."""
    numbers = [contact_number(n) for n in range(count)]
    distinct = len(set(numbers))
    invalid = [x for x in numbers if not phonenumbers.is_valid_number(phonenumbers.parse(x))]
    print(
        f"  contacts' numbers: {distinct:,} distinct of {count:,}, {len(invalid)} invalid"
        f"{' e.g. ' + invalid[0] if invalid else ''}",
        flush=True,
    )
    if distinct != count or invalid:
        raise SystemExit("the number generator makes duplicate or invalid numbers")


class MemoryWatch:
    """Samples the resident memory of the web and worker processes twice a second, keeping each
    role's peak (and which phase it was in), until stopped."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self.phase = "start"
        self.peaks: dict[str, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-watch")

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.platform.all_procs():
                role = "web" if proc.name == "web" else "worker" if proc.name.startswith("worker") else None
                if role is None:
                    continue
                tree = proc.tree()
                if role == "web":
                    tree = tree[1:]  # the gunicorn workers, not their master
                for p in tree:
                    try:
                        rss = p.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    if rss > self.peaks.get(role, (0.0, ""))[0]:
                        self.peaks[role] = (rss, self.phase)
            self._stop.wait(0.5)

    def print(self) -> None:
        for role, limit in LIMITS_MB.items():
            peak, phase = self.peaks.get(role, (float("nan"), "-"))
            verdict = "under" if peak < limit else "OVER"
            print(
                f"  peak memory of a {role} process: {peak:.1f} MB (during {phase}), {verdict} its "
                f"{limit} MB limit",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument(
        "--broadcast-workers",
        type=int,
        default=2,
        help="BROADCAST_WORKERS: how many workers make one broadcast side by side",
    )
    parser.add_argument("--no-deliver", action="store_true", help="stop once the messages are stored")
    parser.add_argument(
        "--creation-alone",
        action="store_true",
        help="no delivery while the broadcast is made (and none after: implies --no-deliver)",
    )
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    if args.contacts > 100_000:
        parser.error("at most 100,000 contacts (one import)")
    check_numbers(args.contacts)
    settings = {"BROADCAST_WORKERS": str(args.broadcast_workers)}
    if args.creation_alone:
        args.no_deliver = True
        settings["DISPATCH_RUNNERS_PER_PROCESS"] = "0"

    with (
        Platform(
            worker_processes=args.worker_processes,
            worker_concurrency=args.worker_concurrency,
            callbacks=False,
            settings=settings,
        ) as platform,
        MemoryWatch(platform) as memory,
    ):
        platform.banner("campaigns")
        from accounts.models import User
        from accounts.services import session_token_issue
        from messaging import broadcasts
        from messaging.models import Broadcast, BroadcastSlice, Message
        from numbers.models import PhoneNumber

        sender = PhoneNumber.objects.get(workspace_id=platform.workspace_id, is_default=True)
        assert sender.phone_number == SHORT_CODE
        token = session_token_issue(user=User.objects.get(email="bench@example.com")).token
        headers = {"Authorization": f"Bearer {token}"}
        base = f"{platform.url}/api/ui/workspaces/{platform.workspace_id}"
        platform.start_workers()
        body = contacts_csv(args.contacts)

        memory.phase = "the import"
        platform.mark()
        started = time.monotonic()
        response = requests.post(
            f"{base}/contacts/import", data=body, timeout=120, headers={**headers, "Content-Type": "text/csv"}
        )
        response.raise_for_status()
        answered = time.monotonic() - started
        import_id = response.json()["id"]

        def imported() -> bool:
            job = requests.get(f"{base}/contacts/import/{import_id}", headers=headers, timeout=30).json()
            return job["status"] != "running"

        platform.wait_for(imported, args.timeout, interval=0.5)
        elapsed = time.monotonic() - started
        job = requests.get(f"{base}/contacts/import/{import_id}", headers=headers, timeout=30).json()
        print(
            f"  import of {args.contacts:,} rows ({len(body) / 1e6:.1f} MB): answered in "
            f"{answered * 1000:.0f} ms, {job['status']} in {elapsed:.1f} s = "
            f"{args.contacts / elapsed:,.0f} rows/s; created {job['created']:,}, errors "
            f"{job['errors_count']}; {load()}",
            flush=True,
        )
        platform.report("import", per=args.contacts, unit="row")
        if job["created"] != args.contacts or job["errors_count"]:
            raise SystemExit(f"the import did not create every contact: {job}")

        memory.phase = "the broadcast's creation"
        platform.mark()
        started = time.monotonic()
        response = requests.post(
            f"{base}/broadcasts",
            timeout=120,
            headers=headers,
            json={
                "name": "Bench launch",
                "body": "Hi {{name}}, news from {{city}}: 20% off this week.",
                "audience": {"all": True},
            },
        )
        response.raise_for_status()
        broadcast_id = response.json()["id"]
        answered = time.monotonic() - started
        progress: list[tuple[float, int]] = []

        def generated() -> bool:
            # Progress by the slices made (a primary-key lookup and a few rows): counting the
            # messages twice a second would itself cost PostgreSQL a good part of a core at 100,000.
            progress.append(
                (
                    time.monotonic() - started,
                    BroadcastSlice.objects.filter(broadcast_id=broadcast_id, done=True).count(),
                )
            )
            return Broadcast.objects.get(pk=broadcast_id).generated

        platform.wait_for(generated, args.timeout, interval=0.25)
        stored = time.monotonic() - started
        made = Message.objects.filter(broadcast_id=broadcast_id).count()
        reached = platform.carrier.call("count")
        alone = " (creation alone)" if args.creation_alone else ""
        print(
            f"  broadcast to {args.contacts:,}{alone}: answered in {answered * 1000:.0f} ms, {made:,} "
            f"messages stored and queued in {stored:.1f} s = {made / stored:,.0f} msgs/s (target: "
            f"100,000 in 10 s); {reached:,} had reached the carrier by then; {load()}",
            flush=True,
        )
        slices = BroadcastSlice.objects.filter(broadcast_id=broadcast_id).count()
        for t, n in progress[:: max(1, len(progress) // 8)]:
            print(f"    t={t:5.1f} s  {n:3} of {slices} slices made", flush=True)
        platform.report("broadcast created", per=made)
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        timings = []
        for _ in range(5):
            at = time.perf_counter()
            broadcasts.broadcast_counts(broadcast, fresh=True)
            timings.append(time.perf_counter() - at)
        at = time.perf_counter()
        broadcasts.broadcast_counts(broadcast)
        cached = time.perf_counter() - at
        print(
            f"  counts of the broadcast's {made:,} messages: counted in {min(timings) * 1000:.1f} ms "
            f"(best of 5; median {percentile(timings, 50) * 1000:.1f} ms), from the cache in "
            f"{cached * 1000:.2f} ms",
            flush=True,
        )
        if args.no_deliver:
            memory.print()
            return

        memory.phase = "delivery"
        platform.mark()
        marks: list[tuple[float, int]] = []
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            count = platform.carrier.call("count")
            marks.append((time.monotonic() - started, count))
            if count >= made:
                break
            time.sleep(0.5)
        sent = platform.carrier.call("count")
        delivered_in = time.monotonic() - started
        after_stored = (sent - reached) / (time.monotonic() - started - stored)
        print(
            f"  {sent:,}/{made:,} reached the carrier {delivered_in:.1f} s after the broadcast was "
            f"made = {sent / delivered_in:,.0f} msgs/s from its creation; {after_stored:,.0f}"
            f" msgs/s after every message was stored (the drain benchmark's figure to compare "
            f"with); sender {SHORT_CODE} (short code, send_rate {sender.send_rate}/s); {load()}",
            flush=True,
        )
        for t, n in marks[:: max(1, len(marks) // 8)]:
            print(f"    t={t:6.1f} s  {n:7,} at the carrier", flush=True)
        platform.report("broadcast delivered, after every message was stored", per=max(1, sent - reached))
        stats = platform.carrier.call("stats")
        print(f"  carrier: {stats['duplicates']} duplicate sends, 429s {stats['rate_limited']}", flush=True)
        memory.print()


if __name__ == "__main__":
    main()
