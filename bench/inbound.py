"""Benchmark 4: inbound. Signed Twilio inbound-message webhooks: the maximum acknowledged (closed
loop) and, at fixed rates (open loop), the acknowledgement's p50/p99 and how fast the workers file
them into the database; each beside the floor (bench/floor) measured by the same load generator in
the same run.

    .venv/bin/python bench/inbound.py [--rates half,250,500] [--duration 10]

`half` in --rates is half the platform's closed-loop maximum of this run (as in bench/accept.py).
"""

import argparse
import time
from urllib.parse import urlencode

import loadgen
from harness import SHORT_CODE, Floor, Platform, beside_floor, load, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="half,250,500")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    from messaging_platform.testing.twilio_params import (  # after harness set the path
        inbound_params,
        signature_headers,
    )

    with Floor(web_workers=args.web_workers) as floor, Platform(web_workers=args.web_workers) as platform:
        platform.banner("inbound")
        platform.start_workers()
        from messaging.models import Direction, Message

        path = f"/webhooks/twilio/{platform.workspace_id}/inbound"
        url = f"{platform.url}{path}"
        account_sid, token = platform.account

        def webhooks(run: int, total: int) -> list[bytes]:
            # Signed before the clock starts, so the generator only sends.
            built = []
            for i in range(total):
                params = inbound_params(
                    from_number=f"+1415{run:02d}{i:05d}"[:12],
                    to_number=SHORT_CODE,
                    body=f"Inbound {run}-{i}",
                    account_sid=account_sid,
                )
                built.append(
                    loadgen.http_post(
                        platform.web_port,
                        path,
                        urlencode(params).encode(),
                        {**signature_headers(url, params, token), "User-Agent": "TwilioProxy/1.1"},
                        content_type="application/x-www-form-urlencoded",
                    )
                )
            return built

        def inbound_count() -> int:
            return Message.objects.filter(direction=Direction.INBOUND).count()

        notes = floor.requests(20_000)
        loadgen.closed_loop(floor.port, notes[:200], concurrency=4, duration=2)  # warm up
        # Every web worker's first webhooks import the carrier's library and fill its caches.
        loadgen.closed_loop(platform.web_port, webhooks(98, 400), concurrency=4, duration=2)
        platform.wait_for(lambda: inbound_count() >= 1, timeout=30, interval=0.5)
        c = args.concurrency
        floor_max = measure(
            f"floor, maximum (closed loop, {c} clients)",
            floor,
            lambda: loadgen.closed_loop(floor.port, notes, concurrency=c, duration=args.duration),
        )
        platform.mark()
        acked = measure(
            f"inbound, maximum acknowledged (closed loop, {c} clients)",
            platform,
            lambda: loadgen.closed_loop(
                platform.web_port, webhooks(99, 20_000), concurrency=c, duration=args.duration
            ),
            ok=200,
        )
        platform.report("inbound maximum")
        beside_floor("inbound acknowledged, closed loop", acked, floor_max)
        platform.wait_for(lambda: inbound_count() >= acked.ok, timeout=120, interval=0.5)

        rates = [acked.rate / 2 if r == "half" else float(r) for r in args.rates.split(",") if r]
        for run, rate in enumerate(rates):
            floor_run = measure(
                f"floor, open loop at {rate:.0f}/s",
                floor,
                lambda rate=rate: loadgen.open_loop(floor.port, notes, rate=rate, duration=args.duration),
            )
            requests = webhooks(run, int(rate * args.duration))
            before = inbound_count()
            platform.mark()
            started = time.monotonic()
            figures = measure(
                f"inbound, open loop at {rate:.0f}/s",
                platform,
                lambda rate=rate, requests=requests: loadgen.open_loop(
                    platform.web_port, requests, rate=rate, duration=args.duration
                ),
                ok=200,
            )
            platform.wait_for(
                lambda b=before, n=figures.ok: inbound_count() - b >= n, timeout=120, interval=0.5
            )
            stored = inbound_count() - before
            elapsed = time.monotonic() - started
            print(
                f"  processed to the database: {stored}/{figures.ok} in {elapsed:.1f} s from the first "
                f"webhook = {stored / elapsed:.0f}/s; {load()}",
                flush=True,
            )
            platform.report(f"inbound {rate:.0f}/s")
            beside_floor(f"inbound acknowledged, open loop at {rate:.0f}/s", figures, floor_run)
            print(
                f"  => inbound stored: {stored / elapsed:.0f}/s, ratio to the floor's maximum "
                f"{stored / elapsed / floor_max.rate:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
