"""Benchmark 2: end to end, from the POST to the fake carrier receiving the send, at fixed offered
loads (open loop), with the carrier answering in 0, 50 and 200 ms. The carrier also posts `sent`
and `delivered` status callbacks, as Twilio does, so the platform does all of its work.

    .venv/bin/python bench/e2e.py [--latencies 0,0.05,0.2] [--rates 150,300] [--duration 10]
"""

import argparse
import time

from harness import Platform, contact, load, ms, open_loop, percentile, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latencies", default="0,0.05,0.2")
    parser.add_argument("--rates", default="150,300")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    args = parser.parse_args()

    with Platform(
        web_workers=args.web_workers,
        worker_processes=args.worker_processes,
        worker_concurrency=args.worker_concurrency,
    ) as platform:
        platform.banner("end to end")
        platform.start_workers()
        platform.mark()
        platform.report("at rest")
        url, headers = f"{platform.url}/api/messages", platform.headers()
        run = 0
        for latency in [float(x) for x in args.latencies.split(",")]:
            platform.carrier.set("latency", latency)
            for rate in [float(r) for r in args.rates.split(",")]:
                run += 1
                tag = f"e2e{run}-"

                async def send(session, i, tag=tag):
                    body = (f"{tag}{i:06d} " + "x" * 160)[:160]
                    async with session.post(
                        url, json={"to": contact(i), "body": body}, headers=headers
                    ) as response:
                        await response.read()
                        return response.status, None

                platform.mark()
                started = time.monotonic()
                results, lag = open_loop(rate, args.duration, send)
                expected = sum(1 for r in results if r.status == 201)
                platform.wait_for(
                    lambda tag=tag, n=expected: sum(
                        1 for b, _, _ in platform.carrier.call("receipts") if b.startswith(tag)
                    )
                    >= n,
                    timeout=60,
                    interval=1,
                )
                receipts = {
                    b.split()[0]: at for b, _, at in platform.carrier.call("receipts") if b.startswith(tag)
                }
                latencies, times = [], sorted(receipts.values())
                # Results are appended as they finish; by due time, they are in index order.
                for index, r in enumerate(sorted(results, key=lambda r: r.scheduled)):
                    key = f"{tag}{index:06d}"
                    if key in receipts:
                        latencies.append(receipts[key] - wall(r.scheduled))
                window = (times[-1] - times[0]) if len(times) > 1 else float("nan")
                print(
                    f"  carrier {latency * 1000:.0f} ms, offered {rate:.0f}/s for {args.duration:.0f} s: "
                    f"{len(receipts)}/{len(results)} reached the carrier "
                    f"(accepted {expected}, generator lag {lag * 1000:.0f} ms); "
                    f"POST->carrier p50 {ms(percentile(latencies, 50))}, "
                    f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies, default=float('nan')))}; "
                    f"carrier received {len(times) / window:.0f}/s over {window:.1f} s; "
                    f"drained {time.monotonic() - started:.1f} s after the first POST; {load()}",
                    flush=True,
                )
                platform.report(f"carrier {latency * 1000:.0f} ms, {rate:.0f}/s", per=len(receipts))
        stats = platform.carrier.call("stats")
        print(
            f"  carrier: {stats['duplicates']} duplicate sends, {stats['callbacks']} callbacks "
            f"({stats['callback_failures']} not 2xx), 429s {stats['rate_limited']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
