"""Benchmark 4: inbound. Signed Twilio inbound-message webhooks at fixed rates (open loop): the
acknowledgement's p50/p99, and how fast the workers file them into the database.

    .venv/bin/python bench/inbound.py [--rates 250,500] [--duration 10]
"""

import argparse
import time

from harness import SHORT_CODE, Platform, load, open_loop, summarize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="250,500")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--web-workers", type=int, default=4)
    args = parser.parse_args()
    from messaging_platform.testing.twilio_params import (  # after harness set the path
        inbound_params,
        signature_headers,
    )

    with Platform(web_workers=args.web_workers) as platform:
        platform.banner("inbound")
        platform.start_workers()
        from messaging.models import Direction, Message

        url = f"{platform.url}/webhooks/twilio/{platform.workspace_id}/inbound"
        account_sid, token = platform.account
        for run, rate in enumerate(float(r) for r in args.rates.split(",")):
            total = int(rate * args.duration)
            # Signed before the clock starts, so the generator only sends.
            requests = []
            for i in range(total):
                params = inbound_params(from_number=f"+1415{run:02d}{i:05d}"[:12], to_number=SHORT_CODE,
                                        body=f"Inbound {run}-{i}", account_sid=account_sid)
                requests.append((params, {**signature_headers(url, params, token),
                                          "User-Agent": "TwilioProxy/1.1"}))
            before = Message.objects.filter(direction=Direction.INBOUND).count()

            async def post(session, i, requests=requests):
                params, headers = requests[i]
                async with session.post(url, data=params, headers=headers) as response:
                    await response.read()
                    return response.status, None

            platform.mark()
            started = time.monotonic()
            results, lag = open_loop(rate, args.duration, post)
            figures = summarize(f"inbound at {rate:.0f}/s (generator lag {lag * 1000:.0f} ms)",
                                results, args.duration, ok=200)
            acked = int(figures["ok"])
            platform.wait_for(lambda b=before, n=acked: Message.objects.filter(
                direction=Direction.INBOUND).count() - b >= n, timeout=120, interval=0.5)
            stored = Message.objects.filter(direction=Direction.INBOUND).count() - before
            elapsed = time.monotonic() - started
            print(f"  processed to the database: {stored}/{acked} in {elapsed:.1f} s from the first "
                  f"webhook = {stored / elapsed:.0f}/s; {load()}", flush=True)
            platform.report(f"inbound {rate:.0f}/s")


if __name__ == "__main__":
    main()
