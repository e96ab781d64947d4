"""A lean HTTP/1.1 client on asyncio with a keep-alive connection pool per origin, for the
delivery engine's carrier sends.

A carrier send is one small POST and a small JSON answer, thousands a second on one event loop.
aiohttp's client spends most of a send's CPU in its per-request machinery (request and response
objects, tracing hooks, cookie jars, timeout contexts); this client writes the request as bytes
on a pooled connection and reads the answer in the connection's protocol, with one timer per
request. It speaks what carrier APIs answer: a status line, headers, and a body sized by
Content-Length, chunked, or ended by the connection's close; TLS through the loop's own SSL.

    pool = KeepAlivePool("https://api.twilio.com", headers={"Authorization": "Basic …"})
    response = await pool.request("POST", "/2010-04-01/…", body=b"To=…", timeout=10.0)

A POST is never sent twice here: a connection lost before its answer raises HttpConnectionError
for the caller to decide (a send whose fate is unknown is the caller's to reconcile).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["HttpConnectionError", "HttpResponse", "KeepAlivePool", "on_write", "urgent"]

# Requests made where this is True (set it in the task that makes them) take the first free
# connection, ahead of those already waiting: a paced send whose turn has come must not queue
# behind another sender's burst, or it reaches the carrier late and crowds the send after it.
urgent: ContextVar[bool] = ContextVar("keepalive_http_urgent", default=False)
# Called (where set) right after a request's bytes are handed to the socket: when a paced send
# really left, which may be later than its turn.
on_write: ContextVar[Callable[[], None] | None] = ContextVar("keepalive_http_on_write", default=None)


class HttpConnectionError(ConnectionError):
    """The connection failed, or closed before the whole answer arrived."""


class HttpConnectFailed(HttpConnectionError):
    """No connection could be made: nothing of the request was written."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    __slots__ = (
        "_body_mode",
        "_buffer",
        "_headers",
        "_length",
        "_status",
        "_waiter",
        "closed",
        "keep_alive",
        "last_used",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.last_used = time.monotonic()
        self._buffer = bytearray()
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._body_mode = ""  # "length", "chunked" or "close"
        self._length = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the exchange is out of step
            self.abort()
            return
        self._buffer += data
        self._parse()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers is not None and self._body_mode == "close":
            self._finish(bytes(self._buffer))
            return
        self._waiter = None
        waiter.set_exception(
            HttpConnectionError(
                f"The connection closed before the answer ({type(exc).__name__ if exc else 'EOF'})."
            )
        )

    # one exchange

    def send(self, data: bytes) -> asyncio.Future:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._reset()
        self.transport.write(data)
        return self._waiter

    def abort(self) -> None:
        self.closed = True
        self._waiter = None
        if self.transport is not None:
            self.transport.abort()

    def _parse(self) -> None:
        buffer = self._buffer
        while self._headers is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > 65536:
                    self._fail("The answer's headers are too large.")
                return
            try:
                self._read_head(bytes(buffer[:end]).decode("latin-1"))
            except ValueError as exc:
                self._fail(f"Not an HTTP answer: {exc}")
                return
            del buffer[: end + 4]
            if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
                self._reset()
        if self._body_mode == "length":
            if len(buffer) >= self._length:
                body = bytes(buffer[: self._length])
                del buffer[: self._length]
                self._finish(body)
        elif self._body_mode == "chunked":
            self._parse_chunks()

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(lines[0][:80])
        status = int(rest[:3])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._status, self._headers = status, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = (connection != "close") and (version != "HTTP/1.0" or connection == "keep-alive")
        if status in (204, 304) or 100 <= status < 200:
            self._body_mode, self._length = "length", 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._body_mode = "chunked"
        elif "content-length" in headers:
            self._body_mode, self._length = "length", int(headers["content-length"])
        else:
            self._body_mode, self.keep_alive = "close", False

    def _parse_chunks(self) -> None:
        buffer, body, at = self._buffer, bytearray(), 0
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return
                del buffer[: trailer_end + 4]
                self._finish(bytes(body))
                return
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return
            body += buffer[start : start + size]
            at = start + size + 2

    def _finish(self, body: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        self.last_used = time.monotonic()
        if self._buffer:  # more than the answer: out of step, not to be used again
            self.keep_alive = False
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._status, self._headers or {}, body))

    def _fail(self, reason: str) -> None:
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(HttpConnectionError(reason))


class KeepAlivePool:
    """Up to `limit` keep-alive connections to one origin (scheme://host:port), made on first
    use and reused; a request waits for a free connection before its timeout starts, so one
    queued behind many others is never given up while the server may already have it.
    `headers` go on every request. Use it on one event loop only."""

    def __init__(
        self,
        origin: str,
        *,
        headers: dict[str, str] | None = None,
        limit: int = 100,
        keepalive_seconds: float = 15.0,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) origin: {origin!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default_port = 443 if self.tls else 80
        host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        fixed = {"Host": host_header, **(headers or {})}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode("latin-1")
        self.limit = limit
        self.keepalive_seconds = keepalive_seconds
        self.connect_timeout = connect_timeout
        self._ssl = (ssl_context or ssl.create_default_context()) if self.tls else None
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self.closed = False
        self.connections_made = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str = "application/x-www-form-urlencoded",
        timeout: float = 10.0,
        extra_headers: bytes = b"",
    ) -> HttpResponse:
        """One exchange. Raises TimeoutError when the answer takes longer than `timeout` seconds
        (from the request's write), HttpConnectionError when the connection fails.
        `extra_headers`: more header lines, encoded, each ending in CRLF."""
        connection = await self._acquire()
        head = (
            f"{method} {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\nContent-Type: {content_type}\r\n"
        ).encode("latin-1")
        reusable = False
        try:
            answer = connection.send(head + self._fixed + extra_headers + b"\r\n" + body)
            written = on_write.get()
            if written is not None:
                written()
            timer = asyncio.get_running_loop().call_later(timeout, _expire, answer, timeout)
            try:
                response = await answer
            finally:
                timer.cancel()
            reusable = connection.keep_alive and not connection.closed
            return response
        finally:
            self._release(connection, reusable)

    async def _acquire(self) -> _Connection:
        if self.closed:
            raise HttpConnectionError("The connection pool is closed.")
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely to be stale
            if connection.closed or now - connection.last_used > self.keepalive_seconds:
                connection.abort()
                self._open -= 1
                continue
            return connection
        if self._open < self.limit:
            self._open += 1
            return await self._connect_in_slot()
        waiter = asyncio.get_running_loop().create_future()
        if urgent.get():
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            connection = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over as this task was cancelled
                if waiter.result() is not None:
                    self._release(waiter.result(), True)
                else:
                    self._slot_freed()
            raise
        if connection is not None:
            return connection
        return await self._connect_in_slot()  # a connection closed and left its slot to this one

    async def _connect_in_slot(self) -> _Connection:
        try:
            return await self._connect()
        except BaseException:
            self._slot_freed()
            raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise HttpConnectFailed(
                f"No connection to {self.host}:{self.port} within {self.connect_timeout:g} s."
            ) from None
        except OSError as exc:
            raise HttpConnectFailed(f"Could not connect to {self.host}:{self.port}: {exc}") from None
        self.connections_made += 1
        return connection

    def _release(self, connection: _Connection, reusable: bool) -> None:
        if not reusable or self.closed:
            connection.abort()
            self._slot_freed()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _slot_freed(self) -> None:
        """A connection closed: its slot goes to the next waiter (who opens a new one), if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1

    async def close(self) -> None:
        self.closed = True
        while self._idle:
            self._idle.pop().abort()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(HttpConnectionError("The connection pool is closed."))


def _expire(answer: asyncio.Future, timeout: float) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError(f"No answer within {timeout:g} s."))
