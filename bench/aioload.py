"""The aiohttp load generator of the benchmarks other than accept and inbound (those use loadgen.py):
requests due on a fixed schedule (open loop) or sent as answers come back (closed loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from figures import load, ms, percentile


@dataclass
class Result:
    scheduled: float  # when the request was due (open loop) or sent (closed loop), monotonic
    done: float
    status: int
    payload: Any = None

    @property
    def latency(self) -> float:
        return self.done - self.scheduled


Request = Callable[[aiohttp.ClientSession, int], Awaitable[tuple[int, Any]]]


def open_loop(
    rate: float, duration: float, request: Request, *, connections: int = 512
) -> tuple[list[Result], float]:
    """Requests due at a fixed schedule (i / rate), each started on time whether or not earlier
    ones answered; latency counts from the due time, so a stall shows up in every request behind it."""

    async def main() -> tuple[list[Result], float]:
        connector = aiohttp.TCPConnector(limit=connections, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        results: list[Result] = []
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = time.monotonic() + 0.2
            total = int(rate * duration)
            lag = 0.0

            async def one(i: int, due: float) -> None:
                try:
                    status, payload = await request(session, i)
                except Exception as exc:  # a refused or timed-out request is a result too
                    status, payload = 0, repr(exc)
                results.append(Result(due, time.monotonic(), status, payload))

            tasks = []
            for i in range(total):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    lag = max(lag, -delay)
                tasks.append(asyncio.create_task(one(i, due)))
            await asyncio.gather(*tasks)
            return results, lag

    return asyncio.run(main())


def closed_loop(concurrency: int, duration: float, request: Request) -> tuple[list[Result], float]:
    """`concurrency` clients, each sending its next request when the last one answered."""

    async def main() -> tuple[list[Result], float]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        results: list[Result] = []
        counter = iter(range(10**9))
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            start = time.monotonic()
            end = start + duration

            async def client() -> None:
                while time.monotonic() < end:
                    sent = time.monotonic()
                    try:
                        status, payload = await request(session, next(counter))
                    except Exception as exc:
                        status, payload = 0, repr(exc)
                    results.append(Result(sent, time.monotonic(), status, payload))

            await asyncio.gather(*(client() for _ in range(concurrency)))
            return results, time.monotonic() - start

    return asyncio.run(main())


def summarize(label: str, results: list[Result], elapsed: float, ok: int = 201) -> dict[str, float]:
    good = [r for r in results if r.status == ok]
    latencies = [r.latency for r in good]
    statuses: dict[int, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    figures = {
        "requests": len(results),
        "ok": len(good),
        "rate": len(good) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")),
    }
    print(
        f"  {label}: {len(good)}/{len(results)} ok in {elapsed:.1f} s = {figures['rate']:.0f}/s; "
        f"p50 {ms(figures['p50'])}, p99 {ms(figures['p99'])}, max {ms(figures['max'])}; "
        f"statuses {statuses}; {load()}",
        flush=True,
    )
    return figures
