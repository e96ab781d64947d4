"""A small HTTP/1.1 server on asyncio for the fake carriers: keep-alive, one request at a time per
connection, answered in the connection's own callback when the handler needs no waiting.

The fake carrier must cost far less than the platform it stands for, or a benchmark measures the
fake: a web framework's per-request machinery was most of the fake Twilio's CPU per send. A
handler takes (method, path, query string, headers with lower-case names, body) and answers
(status, headers, body), or an awaitable of that when it has to wait (added latency, a slow
carrier); answers keep their requests' order.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus

Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str, str, dict[str, str], bytes], "Answer | Awaitable[Answer]"]

MAX_HEAD = 65536


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _ServerConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a handler is waiting: later requests stay in the buffer
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        if self.server.on_connection is not None:
            self.server.on_connection()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        while not self.busy and not self.closing:
            request = self._take_request()
            if request is None:
                return
            method, target, headers, body, keep_alive = request
            path, _, query = target.partition("?")
            try:
                answer = self.server.handler(method, path, query, headers, body)
            except Exception as exc:  # a bug in the handler: answer, keep serving
                answer = (500, {"Content-Type": "text/plain"}, repr(exc).encode())
            if inspect.isawaitable(answer):
                self.busy = True
                task = asyncio.ensure_future(answer)
                self.server.tasks.add(task)
                task.add_done_callback(lambda t, keep=keep_alive: self._answered_later(t, keep))
                return
            self._write(answer, keep_alive)

    def _answered_later(self, task: asyncio.Task, keep_alive: bool) -> None:
        self.server.tasks.discard(task)
        self.busy = False
        if task.cancelled() or self.closing:
            return
        exc = task.exception()
        answer = (500, {"Content-Type": "text/plain"}, repr(exc).encode()) if exc else task.result()
        self._write(answer, keep_alive)
        self._serve_buffered()

    def _take_request(self) -> tuple[str, str, dict[str, str], bytes, bool] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._refuse(431)
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._refuse(400)
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._refuse(411)  # no client of the fakes sends chunked requests
            return None
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            self._refuse(400)
            return None
        if length > self.server.max_body:
            self._refuse(413)
            return None
        if len(buffer) < end + 4 + length:
            if headers.get("expect", "").lower() == "100-continue" and len(buffer) == end + 4:
                assert self.transport is not None
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
        return method, target, headers, body, keep_alive

    def _write(self, answer: Answer, keep_alive: bool) -> None:
        status, headers, body = answer
        if self.transport is None or self.closing:
            return
        head = [f"HTTP/1.1 {status} {_reason(status)}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if not keep_alive:
            head.append("Connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        if not keep_alive:
            self.closing = True
            self.transport.close()

    def _refuse(self, status: int) -> None:
        self._write((status, {"Content-Type": "text/plain"}, _reason(status).encode()), False)


class HttpServer:
    """Serves `handler` on a listening socket, on the running event loop (`await start()`)."""

    def __init__(
        self, handler: Handler, *, max_body: int = 8 * 2**20, on_connection: Callable[[], None] | None = None
    ):
        self.handler = handler
        self.max_body = max_body
        self.on_connection = on_connection
        self.connections: set[_ServerConnection] = set()
        self.tasks: set[asyncio.Future] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ServerConnection(self), sock=listener)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
