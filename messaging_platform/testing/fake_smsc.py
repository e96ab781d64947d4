"""A fake SMSC on loopback for the tests and benchmarks: SMPP 3.4 over TCP in a background thread
(asyncio), with the PDUs encoded and decoded by smpplib like the adapter's. It needs no Django.

    with FakeSmsc() as smsc:
        smsc.add_account("esme", "secret")
        ...  # bind to smsc.port
        smsc.wait_for_parts(10)

It answers binds (refusing a wrong password), submit_sm (a message id in hex or decimal), query_sm,
enquire_link and unbind; sends delivery receipts (text, TLVs or both; in order, shuffled or held
for the test to release) and re-sends those not answered ESME_ROK, like a real SMSC; sends MO
messages (in concatenated parts when long). Knobs: throttling (`throttle_next`, `queue_full_next`,
`max_per_second`), `reject_destination`, `set_outcome`, `drop_binds()`, `drop_after_submits(n)`
(the nth submit_sm is read but never answered), `send_raw()` for malformed PDUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from numbers.providers.smpp import codec


@dataclass
class SubmittedPart:
    system_id: str
    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int
    registered_delivery: int
    smsc_id: str
    received_monotonic: float = field(default_factory=time.monotonic)
    source_addr_ton: int = 0
    source_addr_npi: int = 0

    @functools.cached_property
    def text(self) -> str:  # decoded once: benchmarks read it for every part
        _, payload = codec.split_udh(self.short_message, self.esm_class)
        return codec.decode_short_message(payload, self.data_coding)

    @property
    def concatenation(self) -> codec.Concatenation | None:
        return codec.split_udh(self.short_message, self.esm_class)[0]


@dataclass
class PendingReceipt:
    system_id: str
    part: SubmittedPart
    stat: str
    error: str
    attempts: int = 0


@functools.lru_cache(maxsize=4)
def _minute_of(epoch_minute: int) -> str:
    return time.strftime("%y%m%d%H%M", time.localtime(epoch_minute * 60))


def _minute() -> str:
    return _minute_of(int(time.time() // 60))


class _Connection:
    def __init__(self, smsc: FakeSmsc, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.smsc = smsc
        self.reader = reader
        self.writer = writer
        self.system_id = ""
        self.bind_type = ""
        self.sequencer = codec.Sequencer()
        self.pending: dict[int, asyncio.Future] = {}
        self.outgoing: list[bytes] = []

    @property
    def can_receive(self) -> bool:
        return self.bind_type in ("bind_transceiver", "bind_receiver")

    def send(self, data: bytes) -> None:
        """The PDUs sent in one pass of the loop go out in one write, in order."""
        if self.writer.is_closing():
            return
        self.outgoing.append(data)
        if len(self.outgoing) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def respond(self, command: str, sequence: int, status: int = 0, **fields) -> None:
        self.send(codec.make(command, self.sequencer, sequence=sequence, status=status, **fields).generate())

    def start_request(self, command: str, **fields) -> asyncio.Future:
        """Write a request; answers the future of its response (dropped from `pending` when done)."""
        sequence, data = codec.encode(command, self.sequencer, **fields)
        future = asyncio.get_running_loop().create_future()
        self.pending[sequence] = future
        future.add_done_callback(lambda _: self.pending.pop(sequence, None))
        self.send(data)
        return future

    async def request(self, command: str, timeout: float = 5.0, **fields):
        sequence, data = codec.encode(command, self.sequencer, **fields)
        future = asyncio.get_running_loop().create_future()
        self.pending[sequence] = future
        try:
            self.send(data)
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(sequence, None)

    async def serve(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(4)
                length = int.from_bytes(head, "big")
                if not 16 <= length <= codec.MAX_PDU_LENGTH:
                    self.respond("generic_nack", 0, codec.ESME_RINVCMDLEN)
                    break
                data = head + await self.reader.readexactly(length - 4)
                self.smsc.pdus_received += 1
                await self.handle(data)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.flush()
        self.smsc._connections.discard(self)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("closed"))
        self.writer.close()

    async def handle(self, data: bytes) -> None:
        smsc = self.smsc
        try:
            pdu = codec.decode(data)
        except codec.PduError as exc:
            smsc.malformed_received += 1
            if not int.from_bytes(data[4:8], "big") & 0x80000000:
                self.respond("generic_nack", exc.sequence, exc.status)
            return
        if pdu.is_response() or pdu.command == "generic_nack":
            smsc.responses.append((pdu.command, pdu.status))
            future = self.pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        command = pdu.command
        if command.startswith("bind_"):
            await self.bind(pdu)
        elif not self.system_id:
            self.respond("generic_nack", pdu.sequence, codec.ESME_RINVBNDSTS)
        elif command == "submit_sm":
            await self.submit(pdu)
        elif command == "query_sm":
            smsc_id = codec.text(pdu.message_id)
            state = smsc.states.get(smsc_id)
            if state is None:
                self.respond("query_sm_resp", pdu.sequence, codec.ESME_RQUERYFAIL, message_id=smsc_id)
            else:
                self.respond(
                    "query_sm_resp",
                    pdu.sequence,
                    message_id=smsc_id,
                    final_date="",
                    message_state=state[0],
                    error_code=state[1],
                )
        elif command == "enquire_link":
            smsc.enquire_links += 1
            self.respond("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self.respond("unbind_resp", pdu.sequence)
            smsc.unbinds += 1
            self.close()
        else:
            self.respond("generic_nack", pdu.sequence, codec.ESME_RINVCMDID)

    async def bind(self, pdu) -> None:
        smsc = self.smsc
        system_id, password = codec.text(pdu.system_id), codec.text(pdu.password)
        response = pdu.command + "_resp"
        if self.system_id:
            self.respond(response, pdu.sequence, codec.ESME_RALYBND, system_id="FAKESMSC")
            return
        expected = smsc.accounts.get(system_id)
        if expected is None:
            self.respond(response, pdu.sequence, codec.ESME_RINVSYSID, system_id="FAKESMSC")
            return
        if expected != password:
            self.respond(response, pdu.sequence, codec.ESME_RINVPASWD, system_id="FAKESMSC")
            return
        self.system_id, self.bind_type = system_id, pdu.command
        smsc.binds.append((system_id, pdu.command, codec.text(pdu.system_type)))
        self.respond(response, pdu.sequence, system_id="FAKESMSC")
        smsc._flush_receipts_soon()

    async def submit(self, pdu) -> None:
        smsc = self.smsc
        smsc.submits_received += 1
        if smsc._drop_after is not None:
            smsc._drop_after -= 1
            if smsc._drop_after <= 0:
                smsc._drop_after = None
                smsc.unanswered.append(codec.text(pdu.destination_addr))
                smsc._drop_all()  # read, never answered: its outcome is unknown to the ESME
                return
        if smsc.latency:
            await asyncio.sleep(smsc.latency)
        destination = codec.text(pdu.destination_addr)
        status = smsc._refusal(self, destination)
        if status:
            smsc.refused[status] += 1
            self.respond("submit_sm_resp", pdu.sequence, status)
            return
        number = next(smsc._ids)
        smsc_id = format(number, "X") if smsc.id_format == "hex" else str(number)
        part = SubmittedPart(
            system_id=self.system_id,
            source_addr=codec.text(pdu.source_addr),
            destination_addr=destination,
            short_message=pdu.short_message or b"",
            data_coding=pdu.data_coding or 0,
            esm_class=pdu.esm_class or 0,
            registered_delivery=pdu.registered_delivery or 0,
            smsc_id=smsc_id,
            source_addr_ton=pdu.source_addr_ton or 0,
            source_addr_npi=pdu.source_addr_npi or 0,
        )
        smsc.parts.append(part)
        stat, error = smsc.outcomes.get(part.destination_addr, ("DELIVRD", "000"))
        smsc.states[smsc_id] = (_STATE_OF[stat], int(error or 0))
        self.respond("submit_sm_resp", pdu.sequence, message_id=smsc_id)
        if part.registered_delivery & 0x03 and smsc.receipts:
            smsc._pending_receipts.append(PendingReceipt(self.system_id, part, stat, error))
            smsc._flush_receipts_soon()


_STATE_OF = {name: state for state, name in codec.MESSAGE_STATES.items()}


class FakeSmsc:
    def __init__(
        self,
        *,
        id_format: str = "hex",
        receipt_id_format: str = "same",
        receipt_style: str = "text",
        receipts: bool = True,
        receipt_delay: float = 0.0,
        latency: float = 0.0,
        ssl_context=None,
    ):
        self.ssl_context = ssl_context  # binds over TLS when given
        self.id_format = id_format  # how submit_sm_resp spells ids: "hex" or "decimal"
        self.receipt_id_format = receipt_id_format  # "same", "hex" or "decimal" in receipts
        self.receipt_style = receipt_style  # "text", "tlv" or "both"
        self.receipts = receipts
        self.receipt_delay = receipt_delay
        self.latency = latency
        self.shuffle_receipts = False
        self.hold_receipts = False  # receipts wait for release_receipts()
        self.max_per_second: float | None = None  # per bind, beyond it ESME_RTHROTTLED
        self.accounts: dict[str, str] = {}
        self.outcomes: dict[str, tuple[str, str]] = {}  # destination -> (stat, err)
        self.rejected: dict[str, int] = {}  # destination -> command_status
        self.states: dict[str, tuple[int, int]] = {}  # smsc id -> (message_state, error_code)
        self.parts: list[SubmittedPart] = []
        self.binds: list[tuple[str, str, str]] = []
        self.responses: list[tuple[str, int]] = []  # responses the ESME sent us
        self.refused: Counter[int] = Counter()
        self.unanswered: list[str] = []
        self.receipts_acked: list[str] = []
        self.submits_received = self.pdus_received = self.malformed_received = 0
        self.enquire_links = self.unbinds = 0
        self.host = "127.0.0.1"
        self.port = 0
        self._ids = itertools.count(random.randint(0x1000, 0xFFFF) * 0x10000)
        self._throttle_next = self._queue_full_next = 0
        self._drop_after: int | None = None
        self._pending_receipts: list[PendingReceipt] = []
        self._receipt_ids: dict[tuple[str, str, str], str] = {}  # an id as receipts spell it
        self._connections: set[_Connection] = set()
        self._windows: dict[_Connection, list[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._flush_scheduled = False

    # Life cycle ----------------------------------------------------------------------------

    def start(self) -> FakeSmsc:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def serve() -> None:
                self._server = await asyncio.start_server(
                    self._accept, self.host, self.port, ssl=self.ssl_context
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            self._loop.run_until_complete(serve())
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-smsc", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            self._drop_all()
            await asyncio.sleep(0)

        self.call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FakeSmsc:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, coroutine, timeout: float = 10.0):
        """Run a coroutine on the SMSC's loop from the test's thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _accept(self, reader, writer) -> None:
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        await connection.serve()

    # Knobs ---------------------------------------------------------------------------------

    def add_account(self, system_id: str, password: str) -> None:
        self.accounts[system_id] = password

    def set_outcome(self, destination: str, stat: str, error: str = "000") -> None:
        """The receipt (and query_sm state) for messages to this destination (digits, no '+')."""
        self.outcomes[destination.lstrip("+")] = (stat, error)

    def reject_destination(self, destination: str, status: int) -> None:
        self.rejected[destination.lstrip("+")] = status

    def throttle_next(self, count: int) -> None:
        self._throttle_next += count

    def queue_full_next(self, count: int) -> None:
        self._queue_full_next += count

    def drop_after_submits(self, count: int) -> None:
        """Read `count` more submit_sm, answer all but the last, then drop every connection."""
        self._drop_after = count

    def drop_binds(self) -> None:
        """Close every connection at once, without an unbind (a network cut or an SMSC restart)."""
        self._loop.call_soon_threadsafe(self._drop_all)

    def unbind_all(self) -> None:
        """Ask every bound ESME to unbind (an SMSC going down for maintenance)."""

        async def unbind() -> None:
            for connection in list(self._connections):
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await connection.request("unbind", timeout=2)
                connection.close()

        self.call(unbind())

    def release_receipts(self, order: str = "reverse") -> None:
        """Send the held receipts: "reverse" (newest first), "shuffle" or "fifo"."""
        if order == "reverse":
            self._pending_receipts.reverse()
        elif order == "shuffle":
            random.shuffle(self._pending_receipts)
        self.hold_receipts = False
        self._loop.call_soon_threadsafe(self._flush_receipts_soon)

    def send_raw(self, data: bytes, system_id: str | None = None) -> None:
        """Write bytes as they are to the bound sessions (malformed PDUs)."""

        async def send() -> None:
            for connection in list(self._connections):
                if connection.system_id and system_id in (None, connection.system_id):
                    connection.send(data)

        self.call(send())

    def send_deliver(self, system_id: str | None = None, **fields) -> int:
        """One deliver_sm to a bound receiver; answers the ESME's command_status."""

        async def send() -> int:
            connection = self._receiver(system_id)
            response = await connection.request("deliver_sm", **fields)
            return response.status

        return self.call(send())

    def send_mo(
        self,
        *,
        source: str,
        destination: str,
        body: str,
        system_id: str | None = None,
        order: str = "fifo",
        reference: int | None = None,
    ) -> list[int]:
        """An MO message (split with a concatenation UDH when long); answers each part's
        deliver_sm_resp status. `order`: "fifo", "reverse" or "shuffle" for the parts."""
        parts = codec.split_body(body, reference=random.randint(0, 255) if reference is None else reference)
        if order == "reverse":
            parts.reverse()
        elif order == "shuffle":
            random.shuffle(parts)
        return [
            self.send_deliver(
                system_id,
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=source.lstrip("+"),
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=destination.lstrip("+"),
                esm_class=part.esm_class,
                data_coding=part.data_coding,
                short_message=part.short_message,
            )
            for part in parts
        ]

    # Records -------------------------------------------------------------------------------

    @property
    def bound_sessions(self) -> int:
        return sum(1 for connection in self._connections if connection.system_id)

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def wait_for_parts(self, count: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: len(self.parts) >= count, timeout)

    def wait_for_binds(self, count: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: self.bound_sessions >= count, timeout)

    def texts_by_destination(self) -> Counter[tuple[str, str]]:
        """(destination, text) of every single-part message received, counted."""
        return Counter((p.destination_addr, p.text) for p in self.parts if p.concatenation is None)

    def duplicate_parts(self) -> list[tuple[str, str]]:
        counts = Counter((p.destination_addr, p.short_message) for p in self.parts)
        return [(dest, body.decode("latin-1")) for (dest, body), n in counts.items() if n > 1]

    # Internals -----------------------------------------------------------------------------

    def _receiver(self, system_id: str | None) -> _Connection:
        for connection in self._connections:
            if connection.can_receive and system_id in (None, connection.system_id):
                return connection
        raise LookupError(f"no receiver bound for {system_id or 'any account'}")

    def _refusal(self, connection: _Connection, destination: str) -> int:
        if destination in self.rejected:
            return self.rejected[destination]
        if self._throttle_next:
            self._throttle_next -= 1
            return codec.ESME_RTHROTTLED
        if self._queue_full_next:
            self._queue_full_next -= 1
            return codec.ESME_RMSGQFUL
        if self.max_per_second:
            now = time.monotonic()
            window = [t for t in self._windows.get(connection, []) if now - t < 1.0]
            if len(window) >= self.max_per_second:
                self._windows[connection] = window
                return codec.ESME_RTHROTTLED
            window.append(now)
            self._windows[connection] = window
        return 0

    def _drop_all(self) -> None:
        for connection in list(self._connections):
            transport = connection.writer.transport
            connection.close()
            transport.abort()

    def _flush_receipts_soon(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        self._loop.call_later(self.receipt_delay, lambda: self._loop.create_task(self._flush_receipts()))

    async def _flush_receipts(self) -> None:
        self._flush_scheduled = False
        if self.hold_receipts:
            return
        batch, self._pending_receipts = self._pending_receipts, []
        if self.shuffle_receipts:
            random.shuffle(batch)
        # Written all at once, answers awaited together (one timer, not one per receipt).
        sent = [(receipt, self._send_receipt(receipt)) for receipt in batch]
        waiting = [future for _, future in sent if future is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=5.0)
        retry = [receipt for receipt, future in sent if not self._acked(receipt, future)]
        if retry:
            self._pending_receipts = retry + self._pending_receipts
            self._loop.call_later(0.5, self._flush_receipts_soon)

    def _receipt_id(self, smsc_id: str) -> str:
        key = (smsc_id, self.id_format, self.receipt_id_format)
        found = self._receipt_ids.get(key)
        if found is None:
            found = self._receipt_ids[key] = self._spell_receipt_id(smsc_id)
        return found

    def _spell_receipt_id(self, smsc_id: str) -> str:
        number = int(smsc_id, 16) if self.id_format == "hex" else int(smsc_id)
        style = self.id_format if self.receipt_id_format == "same" else self.receipt_id_format
        return format(number, "X") if style == "hex" else str(number)

    def _send_receipt(self, receipt: PendingReceipt) -> asyncio.Future | None:
        """Write one receipt's deliver_sm; answers the future of its response (None: not sent)."""
        try:
            connection = self._receiver(receipt.system_id)
        except LookupError:
            return None
        part, receipt_id = receipt.part, self._receipt_id(receipt.part.smsc_id)
        fields = {
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": part.destination_addr,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": part.source_addr,
            "esm_class": codec.ESM_CLASS_RECEIPT,
        }
        if self.receipt_style in ("text", "both"):
            now = _minute()
            delivered = "001" if receipt.stat == "DELIVRD" else "000"
            fields["short_message"] = (
                f"id:{receipt_id} sub:001 dlvrd:{delivered} submit date:{now} "
                f"done date:{now} stat:{receipt.stat} err:{receipt.error} "
                f"text:{part.text[:20]}"
            ).encode("latin-1", "replace")
        if self.receipt_style in ("tlv", "both"):
            fields["receipted_message_id"] = receipt_id
            fields["message_state"] = next(k for k, v in codec.MESSAGE_STATES.items() if v == receipt.stat)
        return connection.start_request("deliver_sm", **fields)

    def _acked(self, receipt: PendingReceipt, future: asyncio.Future | None) -> bool:
        if future is None or not future.done() or future.cancelled() or future.exception():
            if future is not None and not future.done():
                future.cancel()
            return False
        if future.result().status != codec.ESME_ROK:
            return False
        self.receipts_acked.append(self._receipt_id(receipt.part.smsc_id))
        return True
