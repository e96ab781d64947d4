"""Benchmark 3: drain. 10,000 messages are queued while no worker runs; then the workers start,
and the carrier's receipts are counted until every message reached it. The carrier answers at
once (or after --carrier-latency seconds) and posts no status callbacks, so this measures sending
alone.

    .venv/bin/python bench/drain.py [--messages 10000] [--carrier-latency 0]
    .venv/bin/python bench/drain.py --carrier-latency 0.2

With a carrier answering in 200 ms, 1,500 sends a second means 300 in flight: `--connections`
(TWILIO_MAX_CONNECTIONS, per worker process) is raised to 250 for the run, beyond the 100 that
suits Twilio's own concurrency limit; a carrier that answers that slowly allows that many.
"""

import argparse
import time

from harness import Platform, load, percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--carrier-latency", type=float, default=0.0)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--connections",
        type=int,
        default=250,
        help="TWILIO_MAX_CONNECTIONS: keep-alive connections per worker process",
    )
    parser.add_argument("--batch", type=int, default=0, help="DISPATCH_BATCH_SIZE (0: the default)")
    parser.add_argument("--runners", type=int, default=0, help="DISPATCH_RUNNERS (0: the default)")
    args = parser.parse_args()
    settings = {"TWILIO_MAX_CONNECTIONS": str(args.connections)}
    if args.batch:
        settings["DISPATCH_BATCH_SIZE"] = str(args.batch)
    if args.runners:
        settings["DISPATCH_RUNNERS"] = str(args.runners)

    with Platform(
        worker_processes=args.worker_processes,
        worker_concurrency=args.worker_concurrency,
        carrier_latency=args.carrier_latency,
        callbacks=False,
        settings=settings,
    ) as platform:
        platform.banner("drain")
        queued = platform.queue_messages(args.messages, "drain-")
        print(f"  queued {queued} messages with no worker running; {load()}", flush=True)
        platform.mark()
        started = time.monotonic()
        platform.start_workers()  # includes the workers' start-up time, as an operator would see
        marks, last, first_count = [], 0, 0
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            count = platform.carrier.call("count")
            now = time.monotonic()
            if count != last:
                if not marks:  # CPU from the first send: the workers' start-up is not counted
                    platform.mark()
                    first_count = count
                marks.append((now - started, count))
                last = count
            if count >= queued:
                break
            time.sleep(0.5)
        receipts = sorted(at for _, _, at in platform.carrier.call("receipts"))
        start_wall = time.time() - (time.monotonic() - started)
        done = [at - start_wall for at in receipts]
        # The carrier's own times of its first and last answers: the poll above looks every
        # 0.5 s (and not before the workers' start-up wait), so its times are late by up to that.
        first, end = (done[0], done[-1]) if done else (float("nan"), time.monotonic() - started)
        print(
            f"  drained {last}/{queued} in {end:.2f} s from starting the workers to the carrier's "
            f"last answer = {last / end:.0f} msgs/s; {(last - 1) / (end - first):.0f} msgs/s from "
            f"the first send ({first:.2f} s after start); {load()}",
            flush=True,
        )
        print(
            f"  time from starting the workers to the carrier: p50 {percentile(done, 50):.2f} s, "
            f"p99 {percentile(done, 99):.2f} s (every message was queued before)",
            flush=True,
        )
        for t, c in marks[:: max(1, len(marks) // 8)]:
            print(f"    t={t:5.1f} s  {c:6d} sent", flush=True)
        platform.report(
            f"drain, from the first send on: {last - first_count} messages", per=last - first_count
        )
        stats = platform.carrier.call("stats")
        print(f"  carrier: {stats['duplicates']} duplicate sends, 429s {stats['rate_limited']}", flush=True)


if __name__ == "__main__":
    main()
