"""A lean HTTP load generator in a process of its own, so that it is not what a benchmark measures.

Requests are built as bytes before the clock starts; each is written on a fresh connection (the
gunicorn sync workers close every connection after one answer) with plain asyncio streams, no HTTP
client library. Latency is measured on the system's monotonic clock, which the caller shares. The
generator reports its own CPU time, so a run shows what the load itself cost.

    requests = [http_post(port, "/api/messages", body, headers) for body in bodies]
    run = closed_loop(port, requests, concurrency=16, duration=10)
    run = open_loop(port, requests, rate=300, duration=10)
"""

from __future__ import annotations

import asyncio
import pickle
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def http_post(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Run:
    """What one run did: (due or sent, answered, status) per request, and the generator's cost."""

    results: list[tuple[float, float, int]]
    bodies: list[bytes]  # the answers' bodies, in the order of results, when asked for
    elapsed: float
    lag: float  # open loop: how late the generator started its latest request
    cpu: float  # CPU seconds the generator process used
    errors: dict[str, int] = field(default_factory=dict)


async def _fetch(port: int, raw: bytes, keep_body: bool) -> tuple[int, bytes]:
    # A connected socket handed to asyncio: open_connection(host, port) would resolve the
    # address in a thread for every request.
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = _LENGTH.search(head)
        body = await (reader.readexactly(int(length.group(1))) if length else reader.read())
        return status, body if keep_body else b""
    finally:
        writer.close()


def _run(
    mode: str,
    port: int,
    requests: list[bytes],
    rate: float,
    duration: float,
    concurrency: int,
    keep_body: bool,
    timeout: float,
) -> Run:
    async def main() -> Run:
        results: list[tuple[float, float, int]] = []
        bodies: list[bytes] = []
        errors: dict[str, int] = {}
        lag = 0.0

        async def one(raw: bytes, due: float) -> None:
            try:
                status, body = await asyncio.wait_for(_fetch(port, raw, keep_body), timeout)
            except Exception as exc:  # a refused or timed-out request is a result too
                status, body = 0, b""
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            results.append((due, time.monotonic(), status))
            if keep_body:
                bodies.append(body)

        start = time.monotonic()
        if mode == "open":
            start += 0.1
            total = int(rate * duration)
            tasks = []
            for i in range(total):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    lag = max(lag, -delay)
                tasks.append(asyncio.create_task(one(requests[i % len(requests)], due)))
            await asyncio.gather(*tasks)
            elapsed = duration
        else:
            end = start + duration
            counter = iter(range(10**9))

            async def client() -> None:
                while time.monotonic() < end:
                    await one(requests[next(counter) % len(requests)], time.monotonic())

            await asyncio.gather(*(client() for _ in range(concurrency)))
            elapsed = time.monotonic() - start
        return Run(results, bodies, elapsed, lag, 0.0, errors)

    cpu = time.process_time()
    run = asyncio.run(main())
    run.cpu = time.process_time() - cpu
    return run


def _in_child(*args) -> Run:
    # A fresh interpreter running only this module (no Django, no threads, not the caller's
    # __main__): the arguments go in on stdin and the Run comes back on stdout, pickled.
    child = subprocess.run(
        [sys.executable, __file__], input=pickle.dumps(args), capture_output=True, check=False
    )
    if child.returncode != 0:
        raise RuntimeError(f"load generator failed: {child.stderr.decode()[-2000:]}")
    return pickle.loads(child.stdout)


def closed_loop(
    port: int,
    requests: list[bytes],
    *,
    concurrency: int,
    duration: float,
    keep_body: bool = False,
    timeout: float = 60,
) -> Run:
    """`concurrency` clients, each sending its next request when the last one answered."""
    return _in_child("closed", port, requests, 0.0, duration, concurrency, keep_body, timeout)


def open_loop(
    port: int,
    requests: list[bytes],
    *,
    rate: float,
    duration: float,
    keep_body: bool = False,
    timeout: float = 60,
) -> Run:
    """Requests due at i / rate, each started on time whether or not earlier ones answered;
    latency counts from the due time, so a stall shows up in every request behind it."""
    return _in_child("open", port, requests, rate, duration, 0, keep_body, timeout)


if __name__ == "__main__":
    import loadgen  # by its name, so that the Run pickles as loadgen.Run, not __main__.Run

    sys.stdout.buffer.write(pickle.dumps(loadgen._run(*pickle.loads(sys.stdin.buffer.read()))))
