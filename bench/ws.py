"""Benchmark 6: WebSocket fan-out. 1, 100 and 1,000 clients of one workspace connected to one
daphne process; messages are sent through the API at a fixed rate (no worker runs, so each makes
exactly one `message.created` event); each event's latency is from the message's `created_at` to
its arrival at each client, and the share is of events x clients delivered.

Needs the WebSocket consumer at /ws/workspaces/{id}/ (the `events` branch).

    .venv/bin/python bench/ws.py [--clients 1,100,1000] [--rate 20] [--duration 5]
"""

import argparse
import asyncio
import json
import time
from datetime import datetime

import aiohttp
import websockets
from harness import CONTACT, Platform, load, ms, percentile


async def fan_out(platform: Platform, clients: int, rate: float, duration: float) -> None:
    ws_url = f"{platform.ws_url}/ws/workspaces/{platform.workspace_id}/"
    headers = platform.headers()
    received: list[list[float]] = [[] for _ in range(clients)]
    sockets = []
    try:
        for _ in range(clients):
            sockets.append(await websockets.connect(ws_url, additional_headers=headers,
                                                    open_timeout=30, max_queue=None))
    except Exception as exc:
        print(f"  could not connect client {len(sockets) + 1}: {exc!r}", flush=True)
        for sock in sockets:
            await sock.close()
        return

    tag = f"ws{clients}-"

    async def listen(i: int, sock) -> None:
        try:
            async for frame in sock:
                event = json.loads(frame)
                data = event.get("data") or {}
                if event.get("type") == "message.created" and str(data.get("body", "")).startswith(tag):
                    created = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
                    received[i].append(time.time() - created.timestamp())
        except websockets.ConnectionClosed:
            pass

    listeners = [asyncio.create_task(listen(i, s)) for i, s in enumerate(sockets)]
    total = int(rate * duration)
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        for n in range(total):
            await asyncio.sleep(max(0, start + n / rate - time.monotonic()))
            async with session.post(f"{platform.url}/api/messages", headers=headers,
                                    json={"to": CONTACT, "body": f"{tag}{n}"}) as response:
                await response.read()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(map(len, received)) < total * clients:
        await asyncio.sleep(0.2)
    for sock in sockets:
        await sock.close()
    for task in listeners:
        task.cancel()
    latencies = [t for per_client in received for t in per_client]
    share = len(latencies) / (total * clients)
    print(f"  {clients} clients, {total} events at {rate:g}/s: delivered {100 * share:.2f}% "
          f"({len(latencies)}/{total * clients}); latency p50 {ms(percentile(latencies, 50))}, "
          f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies, default=float('nan')))}; "
          f"{load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="1,100,1000")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args()

    with Platform(ws=True) as platform:
        platform.banner("websocket fan-out")
        try:
            from messaging import consumers  # noqa: F401
        except ImportError:
            print("  SKIPPED: no WebSocket consumer on this branch (messaging/consumers.py comes "
                  "with the `events` branch); run again once it is merged.", flush=True)
            return
        for clients in [int(c) for c in args.clients.split(",")]:
            platform.mark()
            asyncio.run(fan_out(platform, clients, args.rate, args.duration))
            platform.report(f"{clients} clients")


if __name__ == "__main__":
    main()
