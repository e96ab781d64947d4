"""Benchmark 1: the accept rate of POST /api/messages (160-character body) and of the batch
endpoint. No workers run, so the web tier is measured alone (sends pile up in the broker).

    .venv/bin/python bench/accept.py [--web-workers 4] [--duration 10] [--rates 150,300,600]
"""

import argparse

from harness import Platform, body160, closed_loop, contact, open_loop, summarize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rates", default="150,300,600")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    with Platform(web_workers=args.web_workers) as platform:
        platform.banner("accept")
        platform.mark()
        platform.report("at rest")
        url, headers = f"{platform.url}/api/messages", platform.headers()

        async def send(session, i):
            async with session.post(url, json={"to": contact(i), "body": body160(i)},
                                    headers=headers) as response:
                await response.read()
                return response.status, None

        closed_loop(4, 2, send)  # warm up: imports, connections
        platform.mark()
        results, elapsed = closed_loop(args.concurrency, args.duration, send)
        summarize(f"maximum (closed loop, {args.concurrency} clients)", results, elapsed)
        platform.report("maximum")
        for rate in [float(r) for r in args.rates.split(",") if r]:
            platform.mark()
            results, lag = open_loop(rate, args.duration, send)
            summarize(f"open loop at {rate:.0f}/s (generator lag {lag * 1000:.0f} ms)", results,
                      args.duration)
            platform.report(f"{rate:.0f}/s")
        if args.batch:
            batch_url = f"{platform.url}/api/messages/batch"

            async def send_batch(session, i):
                messages = [{"to": contact(i * 1000 + j), "body": body160(i * 1000 + j)}
                            for j in range(1000)]
                async with session.post(batch_url, json={"messages": messages},
                                        headers=headers) as response:
                    data = await response.json()
                    accepted = sum(1 for item in data["data"] if item["status"] == 201)
                    return response.status, accepted

            platform.mark()
            results, elapsed = closed_loop(args.web_workers, args.duration, send_batch)
            accepted = sum(r.payload or 0 for r in results if r.status == 200)
            summarize(f"batches of 1,000 (closed loop, {args.web_workers} clients)", results,
                      elapsed, ok=200)
            print(f"  batch: {accepted} messages accepted in {elapsed:.1f} s = "
                  f"{accepted / elapsed:.0f} messages/s", flush=True)
            platform.report("batch")


if __name__ == "__main__":
    main()
