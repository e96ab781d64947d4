"""One SMPP 3.4 session to an SMSC, on asyncio: connect (TLS optional), bind, keep the bind alive
with enquire_link, a window of outstanding requests, and the SMSC's own requests (deliver_sm,
enquire_link, unbind) answered as the protocol requires.

A deliver_sm is answered only once its handler has returned (the bind manager stores the receipt
or MO message first), so an SMSC redelivers what a crash kept us from storing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from . import codec

if TYPE_CHECKING:
    from collections.abc import Coroutine

    class _Pending(asyncio.Future[Any]):
        """A request's future, with what runs as soon as its answer is read."""

        on_answer: Callable[[object], None] | None


logger = logging.getLogger(__name__)

BIND_COMMANDS = {
    "transceiver": "bind_transceiver",
    "transmitter": "bind_transmitter",
    "receiver": "bind_receiver",
}


class SmppError(Exception):
    """A request the SMSC refused (`status` is its command_status), or a session that ended."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class SessionClosed(SmppError):
    """The session ended before the SMSC answered. `written`: the request had gone out, so its
    outcome is unknown; otherwise it never left."""

    def __init__(self, message: str, *, written: bool = False):
        super().__init__(message)
        self.written = written


@dataclass
class SessionConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    tls: bool = False
    bind_type: str = "transceiver"
    window: int = 10
    enquire_link_seconds: float = 30.0
    response_timeout: float = 10.0
    connect_timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = None


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


DeliverHandler = Callable[[object], Awaitable[int]]  # a deliver_sm -> the command_status to answer


class SmppSession:
    def __init__(self, config: SessionConfig, *, on_deliver: DeliverHandler | None = None):
        self.config = config
        self.on_deliver = on_deliver
        self.sequencer = codec.Sequencer()
        self.window = asyncio.Semaphore(max(1, config.window))
        self.pending: dict[int, _Pending] = {}
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.bound = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._outgoing: list[bytes] = []  # PDUs written in this pass of the loop (_write)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_received = 0.0

    # Opening and closing ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and bind. Raises SmppError (the bind refused: `status`), OSError or TimeoutError."""
        config = self.config
        context = None
        if config.tls:
            context = config.ssl_context or ssl.create_default_context()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(
                config.host, config.port, ssl=context, server_hostname=config.host if context else None
            ),
            config.connect_timeout,
        )
        self._spawn(self._read_loop())
        try:
            response = await self.request(
                BIND_COMMANDS[config.bind_type],
                system_id=config.system_id,
                password=config.password,
                system_type=config.system_type,
                interface_version=0x34,
                addr_ton=0,
                addr_npi=0,
                address_range="",
            )
        except BaseException:
            await self.abort("bind failed")
            raise
        if response.status != codec.ESME_ROK:
            await self.abort("bind refused")
            raise SmppError(f"bind refused: {codec.status_name(response.status)}", status=response.status)
        self.bound = True
        self._spawn(self._keep_alive())

    async def close(self) -> None:
        """Unbind (waiting a moment for unbind_resp) and disconnect."""
        if self.bound and not self.closed.is_set():
            self.bound = False
            with contextlib.suppress(SmppError, TimeoutError, OSError):
                await asyncio.wait_for(self._send_request("unbind"), 2.0)
        await self.abort("closed by us")

    async def abort(self, reason: str) -> None:
        """Drop the connection at once; every outstanding request ends with SessionClosed."""
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()
            self.bound = False
            logger.info("SMPP session to %s:%s ended: %s", self.config.host, self.config.port, reason)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(SessionClosed(f"session ended ({self.close_reason})"))
        self.pending.clear()
        if self._writer is not None:
            self._flush()  # what was answered before the end (a generic_nack) still goes
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    # Requests --------------------------------------------------------------------------------

    async def request(
        self, command: str, *, on_answer: Callable[[object], None] | None = None, **fields: Any
    ) -> Any:
        """Send a request within the window and wait for its response PDU (any command_status).
        `on_answer(pdu)` runs as soon as the response is read, before any PDU after it is handled.
        Raises SessionClosed if the session ends first."""
        async with self.window:
            return await self._send_request(command, on_answer=on_answer, **fields)

    async def _send_request(
        self, command: str, *, on_answer: Callable[[object], None] | None = None, **fields: Any
    ) -> Any:
        if self.closed.is_set():
            raise SessionClosed(f"session ended ({self.close_reason})")
        sequence, data = codec.encode(command, self.sequencer, **fields)
        future = cast("_Pending", asyncio.get_running_loop().create_future())
        future.on_answer = on_answer
        self.pending[sequence] = future
        try:
            self._write(data)
        except ConnectionError as exc:
            self.pending.pop(sequence, None)
            raise SessionClosed(str(exc)) from None
        # One timer for the answer (asyncio.wait_for makes a waiter and callbacks per request).
        timer = asyncio.get_running_loop().call_later(self.config.response_timeout, _time_out, future)
        try:
            await cast(asyncio.StreamWriter, self._writer).drain()  # _write found it open
            return await future
        except SessionClosed as exc:
            raise SessionClosed(str(exc), written=True) from None
        except (ConnectionError, OSError) as exc:
            await self.abort(f"write failed: {exc}")
            raise SessionClosed(str(exc), written=True) from None
        except TimeoutError:
            # No answer in time: the link is not working; the outcome of this request is unknown.
            await self.abort(f"no {command}_resp within {self.config.response_timeout}s")
            raise SessionClosed(f"no {command}_resp in time", written=True) from None
        finally:
            timer.cancel()
            self.pending.pop(sequence, None)

    def _write(self, data: bytes) -> None:
        """Queue a PDU for the socket: the PDUs queued in one pass of the event loop (a window of
        submit_sm, the answers to a batch of receipts) go out in one write, soon after, in order."""
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("not connected")
        self._outgoing.append(data)
        if len(self._outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def _respond(self, command: str, sequence: int, status: int = codec.ESME_ROK, **fields: Any) -> None:
        # A session that is ending: the SMSC redelivers what it did not hear answered.
        with contextlib.suppress(ConnectionError):
            self._write(
                codec.make(command, self.sequencer, sequence=sequence, status=status, **fields).generate()
            )

    # Reading ---------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = cast(asyncio.StreamReader, self._reader)  # open() connected it before starting this
        reason = "connection closed by the SMSC"
        try:
            while True:
                header = await reader.readexactly(4)
                length = int.from_bytes(header, "big")
                if not codec.HEADER.size <= length <= codec.MAX_PDU_LENGTH:
                    # The framing is lost: nothing after this can be trusted.
                    logger.warning(
                        "SMPP: command_length %d from %s; dropping the connection", length, self.config.host
                    )
                    self._respond("generic_nack", 0, codec.ESME_RINVCMDLEN)
                    reason = f"invalid command_length {length}"
                    break
                data = header + await reader.readexactly(length - 4)
                self._last_received = asyncio.get_running_loop().time()
                try:
                    await self._handle(data)
                except Exception:  # whatever the SMSC sends, the session goes on reading
                    logger.exception("SMPP: handling a PDU from %s failed", self.config.host)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ssl.SSLError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                reason = f"connection lost: {exc}"
        except asyncio.CancelledError:
            return
        await self.abort(reason)

    async def _handle(self, data: bytes) -> None:
        try:
            pdu = codec.decode(data)
        except codec.PduError as exc:
            logger.warning("SMPP: malformed PDU from %s (%s); answered generic_nack", self.config.host, exc)
            command_id = int.from_bytes(data[4:8], "big")
            if command_id & 0x80000000:
                future = self.pending.get(exc.sequence)
                if future is not None and not future.done():
                    future.set_exception(SmppError(str(exc), status=exc.status))
            else:
                self._respond("generic_nack", exc.sequence, exc.status)
            return
        if pdu.is_response():
            future = self.pending.get(pdu.sequence)
            if future is not None and not future.done():
                if future.on_answer is not None:
                    future.on_answer(pdu)
                future.set_result(pdu)
            elif pdu.command != "generic_nack":
                logger.warning("SMPP: %s for unknown sequence %d", pdu.command, pdu.sequence)
            return
        if pdu.command == "generic_nack":
            future = self.pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)  # a refused request: its status says why
            return
        if pdu.command == "enquire_link":
            self._respond("enquire_link_resp", pdu.sequence)
        elif pdu.command == "unbind":
            self._respond("unbind_resp", pdu.sequence)
            self.bound = False
            await self.abort("unbound by the SMSC")
        elif pdu.command in ("deliver_sm", "data_sm"):
            self._spawn(self._deliver(pdu))
        elif pdu.command == "alert_notification":
            pass  # no response is defined
        else:
            self._respond("generic_nack", pdu.sequence, codec.ESME_RINVCMDID)

    async def _deliver(self, pdu: Any) -> None:
        status = codec.ESME_RX_T_APPN
        try:
            if self.on_deliver is not None:
                status = await self.on_deliver(pdu)
            else:
                status = codec.ESME_ROK
        except Exception:
            logger.exception("SMPP: handling %s failed; answered temporarily refused", pdu.command)
        response = "deliver_sm_resp" if pdu.command == "deliver_sm" else "data_sm_resp"
        self._respond(response, pdu.sequence, status)

    async def _keep_alive(self) -> None:
        interval = self.config.enquire_link_seconds
        loop = asyncio.get_running_loop()
        while not self.closed.is_set():
            await asyncio.sleep(interval / 2)
            if loop.time() - self._last_received < interval:
                continue
            try:
                await self._send_request("enquire_link")
            except (SmppError, TimeoutError):
                return  # _send_request has ended the session

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
