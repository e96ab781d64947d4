"""Benchmark 6: WebSocket fan-out. 1, 100 and 1,000 clients of one workspace connected to
--daphne processes (default 2, as docs/deploy.md lays out the `ws` tier on a 2-core machine: each
hears every event through Redis pub/sub and writes it to its own sockets); messages are sent
through the API at a fixed rate (no worker runs, so each makes exactly one `message.created`
event); each event's latency is from the message's `created_at` to its arrival at each client, and
the share is of events x clients delivered.

The clients run in client processes of at most --clients-per-process sockets (250) each, apart
from the load generator, so that one Python process parsing 20,000 frames a second is not what is
measured; the client processes are spread over the daphne processes as a load balancer would.
Their CPU is printed, and so is daphne's CPU (all processes) per delivered frame during the
fan-out.

    .venv/bin/python bench/ws.py [--clients 1,100,1000] [--rate 20] [--duration 5] [--daphne 2]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from datetime import datetime

import aiohttp
import psutil
import websockets
from harness import CONTACT, Platform, load, ms, percentile


def _client_main(conn, ws_url: str, headers: dict[str, str], clients: int, tag: str) -> None:
    """One client process: connects `clients` sockets, says so, then records each tagged event's
    latency (arrival minus the message's created_at) until told how many to expect."""

    async def main() -> tuple[list[float], float] | str:
        sockets = []
        try:
            for _ in range(clients):
                sockets.append(
                    await websockets.connect(
                        ws_url, additional_headers=headers, open_timeout=60, max_queue=None
                    )
                )
        except Exception as exc:
            for sock in sockets:
                await sock.close()
            return f"could not connect client {len(sockets) + 1}: {exc!r}"
        latencies: list[float] = []

        async def listen(sock) -> None:
            # Only this run's frames are parsed (a substring test first): the clients' CPU is the
            # benchmark's, not the platform's, and it shares the machine with daphne.
            try:
                async for frame in sock:
                    arrived = time.time()
                    if tag not in frame:
                        continue
                    event = json.loads(frame)
                    data = event.get("data") or {}
                    if event.get("type") == "message.created" and str(data.get("body", "")).startswith(tag):
                        created = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
                        latencies.append(arrived - created.timestamp())
            except websockets.ConnectionClosed:
                pass

        listeners = [asyncio.create_task(listen(s)) for s in sockets]
        loop = asyncio.get_running_loop()
        conn.send("connected")
        cpu_mark = time.process_time()
        expected, wait = await loop.run_in_executor(None, conn.recv)  # sent once the events were
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(latencies) < expected * clients:
            await asyncio.sleep(0.1)
        for sock in sockets:
            await sock.close()
        for task in listeners:
            task.cancel()
        return latencies, time.process_time() - cpu_mark

    conn.send(asyncio.run(main()))


async def _send_events(platform: Platform, tag: str, total: int, rate: float) -> None:
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        for n in range(total):
            await asyncio.sleep(max(0, start + n / rate - time.monotonic()))
            async with session.post(
                f"{platform.url}/api/messages",
                headers=platform.headers(),
                json={"to": CONTACT, "body": f"{tag}{n}"},
            ) as response:
                await response.read()


def fan_out(platform: Platform, clients: int, rate: float, duration: float, per_process: int) -> None:
    """The clients live in client processes of at most `per_process` sockets each, so that the
    benchmark measures daphne rather than one Python process parsing every frame of every client."""
    ws_urls = [f"{url}/ws/workspaces/{platform.workspace_id}/" for url in platform.ws_urls]
    tag = f"ws{clients}-"
    ctx = multiprocessing.get_context("fork")
    shares = [per_process] * (clients // per_process)
    if clients % per_process:
        shares.append(clients % per_process)
    children = []
    for index, share in enumerate(shares):
        parent, child = ctx.Pipe()
        ws_url = ws_urls[index % len(ws_urls)]  # client processes spread over the daphne processes
        process = ctx.Process(
            target=_client_main,
            args=(child, ws_url, platform.headers(), share, tag),
            daemon=True,
            name="ws-clients",
        )
        process.start()
        children.append((process, parent, share))
    try:
        failures = [answer for _, conn, _ in children if (answer := conn.recv()) != "connected"]
        if failures:
            print(f"  {failures[0]}", flush=True)
            return
        daphnes = [psutil.Process(p.popen.pid) for p in platform.procs if p.name.startswith("ws")]
        # From here: the fan-out only, not the handshakes.
        daphne_cpu = sum(sum(d.cpu_times()[:2]) for d in daphnes)
        started = time.monotonic()
        total = int(rate * duration)
        asyncio.run(_send_events(platform, tag, total, rate))
        for _, conn, _ in children:
            conn.send((total, 30))
        cpu: dict[int, float] = {}
        latencies: list[float] = []
        for process, conn, _ in children:
            answer = conn.recv()
            if isinstance(answer, str):
                print(f"  client process {process.pid}: {answer}", flush=True)
            else:
                latencies.extend(answer[0])
                cpu[process.pid] = answer[1]
        elapsed = time.monotonic() - started
        daphne_cpu = sum(sum(d.cpu_times()[:2]) for d in daphnes) - daphne_cpu
    finally:
        for process, _, _ in children:
            process.join(10)
            if process.is_alive():
                process.kill()
    share = len(latencies) / (total * clients)
    print(
        f"  {clients} clients in {len(children)} client processes, {total} events at {rate:g}/s: "
        f"delivered {100 * share:.2f}% ({len(latencies)}/{total * clients}); latency p50 "
        f"{ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}, max "
        f"{ms(max(latencies, default=float('nan')))}; {load()}",
        flush=True,
    )
    # CPU seconds are what a loaded machine distorts least: latency there is mostly waiting for a core.
    print(
        f"  daphne ({len(daphnes)} processes) during the fan-out: {daphne_cpu:.1f} CPU s in "
        f"{elapsed:.1f} s = "
        f"{1e6 * daphne_cpu / max(1, len(latencies)):.0f} us per frame delivered",
        flush=True,
    )
    print(
        "  client processes (sending and waiting, "
        f"{elapsed:.1f} s): "
        + ", ".join(f"pid {pid} cpu {100 * c / elapsed:.0f}%" for pid, c in cpu.items()),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="1,100,1000")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument(
        "--clients-per-process", type=int, default=250, help="WebSocket clients per client process"
    )
    parser.add_argument("--daphne", type=int, default=2, help="daphne processes")
    args = parser.parse_args()

    with Platform(ws=args.daphne) as platform:
        platform.banner("websocket fan-out")
        try:
            from messaging import consumers  # noqa: F401
        except ImportError:
            print(
                "  SKIPPED: no WebSocket consumer on this branch (messaging/consumers.py comes "
                "with the `events` branch); run again once it is merged.",
                flush=True,
            )
            return
        print(
            f"   clients: at most {args.clients_per_process} per client process; "
            f"{args.daphne} daphne processes; {os.cpu_count()} CPUs",
            flush=True,
        )
        for clients in [int(c) for c in args.clients.split(",")]:
            platform.mark()
            fan_out(platform, clients, args.rate, args.duration, args.clients_per_process)
            platform.report(f"{clients} clients")


if __name__ == "__main__":
    main()
