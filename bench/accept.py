"""Benchmark 1: the accept rate of POST /api/messages (160-character body) and of the batch
endpoint, each beside the floor (bench/floor: a bare Django + DRF insert under the same gunicorn)
measured by the same load generator in the same run. No workers run, so the web tier is measured
alone (sends pile up in the broker).

    .venv/bin/python bench/accept.py [--web-workers 4] [--duration 10] [--rates half,300]

`half` in --rates is half the platform's closed-loop maximum of this run.
"""

import argparse
import json

import loadgen
from harness import Floor, Platform, beside_floor, body160, contact, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rates", default="half")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    with Floor(web_workers=args.web_workers) as floor, Platform(web_workers=args.web_workers) as platform:
        platform.banner("accept")
        print(
            f"   floor: bench/floor under the same gunicorn command, {args.web_workers} sync workers; "
            "load: bench/loadgen.py in its own process",
            flush=True,
        )
        platform.mark()
        platform.report("at rest")
        headers = {**platform.headers(), "Accept": "application/json"}
        count = 30_000
        sends = [
            loadgen.http_post(
                platform.web_port,
                "/api/messages",
                json.dumps({"to": contact(i), "body": body160(i)}).encode(),
                headers,
            )
            for i in range(count)
        ]
        notes = floor.requests(count)

        loadgen.closed_loop(floor.port, notes[:200], concurrency=4, duration=2)  # warm up
        loadgen.closed_loop(platform.web_port, sends[-200:], concurrency=4, duration=2)
        c = args.concurrency
        floor_max = measure(
            f"floor, maximum (closed loop, {c} clients)",
            floor,
            lambda: loadgen.closed_loop(floor.port, notes, concurrency=c, duration=args.duration),
        )
        platform.mark()
        send_max = measure(
            f"send, maximum (closed loop, {c} clients)",
            platform,
            lambda: loadgen.closed_loop(platform.web_port, sends, concurrency=c, duration=args.duration),
        )
        platform.report("maximum")
        beside_floor("single sends, closed loop", send_max, floor_max)

        for token in (r for r in args.rates.split(",") if r):
            rate = send_max.rate / 2 if token == "half" else float(token)
            floor_run = measure(
                f"floor, open loop at {rate:.0f}/s",
                floor,
                lambda rate=rate: loadgen.open_loop(floor.port, notes, rate=rate, duration=args.duration),
            )
            platform.mark()
            send_run = measure(
                f"send, open loop at {rate:.0f}/s",
                platform,
                lambda rate=rate: loadgen.open_loop(
                    platform.web_port, sends, rate=rate, duration=args.duration
                ),
            )
            platform.report(f"{rate:.0f}/s")
            beside_floor(f"single sends, open loop at {rate:.0f}/s", send_run, floor_run)

        if args.batch:
            batches = []
            for i in range(40):
                messages = [{"to": contact(i * 1000 + j), "body": body160(i * 1000 + j)} for j in range(1000)]
                batches.append(
                    loadgen.http_post(
                        platform.web_port,
                        "/api/messages/batch",
                        json.dumps({"messages": messages}).encode(),
                        headers,
                    )
                )
            platform.mark()
            batch = measure(
                f"batches of 1,000 (closed loop, {args.web_workers} clients)",
                platform,
                lambda: loadgen.closed_loop(
                    platform.web_port,
                    batches,
                    concurrency=args.web_workers,
                    duration=args.duration,
                    keep_body=True,
                ),
                ok=200,
            )
            run = measure.last_run
            accepted = sum(
                sum(1 for item in json.loads(body)["data"] if item["status"] == 201)
                for (_, _, status), body in zip(run.results, run.bodies, strict=True)
                if status == 200
            )
            print(
                f"  batch: {accepted} messages accepted in {run.elapsed:.1f} s = "
                f"{accepted / run.elapsed:.0f} messages/s; web CPU "
                f"{batch.web_cpu / max(1, accepted) * 1e6:.0f} µs per message",
                flush=True,
            )
            platform.report("batch")
            print(
                f"  => batch sends: {accepted / run.elapsed:.0f} messages/s, floor {floor_max.rate:.0f}/s, "
                f"ratio {accepted / run.elapsed / floor_max.rate:.2f}x; web CPU per message "
                f"{batch.web_cpu / max(1, accepted) * 1000:.3f} ms vs the floor's "
                f"{floor_max.cpu_per_ok * 1000:.2f} ms per insert",
                flush=True,
            )


if __name__ == "__main__":
    main()
