"""The bind process: every SMPP account's bind on the delivery engine's send loop, and the
engine's rounds sending through them.

Per account (AccountBind): bind (reconnecting with backoff, rebinding when the SMSC drops the
bind), a window of outstanding submit_sm at the account's throughput (throttling answers pause
the bind and are retried in pace, not counted as attempts), receipts applied to their messages
(through the lifecycle) and MO messages stored as carrier events before their deliver_sm is
answered, in batches, on a small pool of database threads. An account whose bind cannot be made
fails its due messages over to their fallback.

The messages go out through the delivery engine's rounds (messaging.dispatch.serve_rounds), as
for every carrier: a few threads claim the bound accounts' due messages many at a time, pace
them, submit them through SmppProvider.send_async (AccountBind.submit) and write the outcomes
back in bulk. The answered parts of each message are written while the round goes on, every few
milliseconds (store.record_parts), so that a crash before the round's write-back does not send
those messages again; a receipt waits for its message's round to be written back before it is
applied (it would otherwise lock the message rows that write-back updates); one that stops
waiting is stored as a carrier event for a worker to apply.

Runs as `python manage.py smpp_binds` (the Procfile's `smpp` line), or in a thread of the server
process under the embedded default (SMPP_BINDS_IN_PROCESS).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import connection, connections

from numbers.models import CarrierAccountStatus, ProviderAccount, ProviderKind
from numbers.providers.base import (
    NotSent,
    PermanentProviderError,
    SendResult,
    TransientProviderError,
)

from . import codec
from .provider import session_config
from .session import SessionClosed, SmppError, SmppSession
from .store import (
    UNKNOWN_OUTCOME,
    at_most_once,
    db_job,
    fail_over_unbound,
    provider_sid_for,
    record_parts,
    store_inbound,
    store_receipts,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from messaging.dispatch import Scope

    # A receipt waiting to be stored: its raw fields, the future its deliver_sm_resp waits on, and
    # when it stops waiting for its message.
    _PendingReceipt = tuple[codec.Receipt, dict[str, Any], asyncio.Future[Any], float]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmppSendResult(SendResult):
    parts: tuple[tuple[int, str], ...] = ()  # (index, the SMSC's id) of every part
    total: int = 1


class Pacer:
    """At most `rate` submit_sm per second on the bind (None: as fast as the window allows);
    a throttling answer pauses every submit, longer while the SMSC keeps throttling."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = 0.0
        self.paused_until = 0.0
        self.pause = settings.SMPP_THROTTLE_PAUSE_SECONDS

    async def wait(self) -> None:
        if not self.interval and not self.paused_until:
            return  # unthrottled: no clock to read
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            go_at = max(self.next_at, self.paused_until)
            if go_at <= now:
                self.next_at = max(now, self.next_at) + self.interval
                return
            await asyncio.sleep(go_at - now)

    def throttled(self) -> None:
        loop = asyncio.get_running_loop()
        if self.paused_until < loop.time():
            self.paused_until = loop.time() + self.pause
            self.pause = min(self.pause * 2, settings.SMPP_THROTTLE_PAUSE_MAX_SECONDS)

    def succeeded(self) -> None:
        self.pause = settings.SMPP_THROTTLE_PAUSE_SECONDS


# The binds of this process, by account: what SmppProvider.send_async submits through.
_live: dict[int, AccountBind] = {}


def live_bind(account_id: int) -> AccountBind | None:
    return _live.get(account_id)


class AccountBind:
    """One SMPP account's bind, for as long as the account stays as it is. Lives on the engine's
    send loop; `submit` is called there by the engine's rounds."""

    def __init__(self, account: ProviderAccount, db: ThreadPoolExecutor):
        self.account = account
        self.config = session_config(account)
        values = account.settings or {}
        self.pacer = Pacer(float(values["throughput"]) if values.get("throughput") else None)
        self.executor = db
        self.stopping = asyncio.Event()
        self.session: SmppSession | None = None
        self.submitting = 0
        self.idle = asyncio.Event()
        self.answered: list[tuple[str, tuple[Any, ...], int, asyncio.Future[Any]]] = []  # parts to write
        self.marking: list[tuple[str, int, asyncio.Future[Any]]] = []  # at most once: before submit_sm
        self.answered_ready = asyncio.Event()
        # At most once: at most a window's messages marked `submitting` and not answered, so that a
        # crash leaves no more than that in doubt (the others of the round never left).
        self.once = at_most_once(account)
        self.slots = asyncio.Semaphore(max(1, self.config.window))
        self.receipts: list[_PendingReceipt] = []
        self.receipts_ready = asyncio.Event()
        self.storing = asyncio.Semaphore(2)  # receipt batches stored at once
        # Ids (every spelling) of parts answered whose round has not written its messages back
        # yet: their receipts wait for that write-back.
        self.unwritten: dict[str | None, float] = {}  # popping a None form finds nothing
        self.written = asyncio.Event()
        self.bound_once = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<AccountBind {self.account.pk} {self.config.host}:{self.config.port}>"

    @property
    def bound(self) -> bool:
        session = self.session
        return session is not None and session.bound and not session.closed.is_set()

    async def db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, db_job, function, *args)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        receipts = asyncio.create_task(self._receipt_loop())
        writer = asyncio.create_task(self._write_loop())
        backoff = settings.SMPP_RECONNECT_MIN_SECONDS
        try:
            while not self.stopping.is_set():
                session = SmppSession(self.config, on_deliver=self._on_deliver)
                try:
                    await session.open()
                except (SmppError, OSError, TimeoutError) as exc:
                    logger.warning(
                        "SMPP bind of account %s to %s:%s failed: %s",
                        self.account.pk,
                        self.config.host,
                        self.config.port,
                        exc,
                    )
                    await self._fail_over_unbound(exc)
                else:
                    logger.info(
                        "SMPP account %s bound to %s:%s", self.account.pk, self.config.host, self.config.port
                    )
                    backoff = settings.SMPP_RECONNECT_MIN_SECONDS
                    self.session = session
                    self.bound_once.set()
                    await _first(session.closed.wait(), self.stopping.wait())
                    if self.stopping.is_set() and self.submitting:
                        # The rounds have stopped claiming: let what they submitted be answered.
                        self.idle.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.idle.wait(), self.config.response_timeout)
                    self.session = None
                    await session.close()
                if self.stopping.is_set():
                    break
                delay = random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not security
                backoff = min(backoff * 2, settings.SMPP_RECONNECT_MAX_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
        finally:
            if self.submitting:  # a round still waits for its parts to be written
                self.idle.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.idle.wait(), self.config.response_timeout)
            receipts.cancel()
            writer.cancel()
            await asyncio.gather(receipts, writer, return_exceptions=True)

    async def _fail_over_unbound(self, exc: BaseException) -> None:
        reason = f"no bind to {self.config.host}:{self.config.port}: {exc or type(exc).__name__}"
        try:
            moved = await self.db(fail_over_unbound, self.account, reason)
        except Exception:
            logger.exception("SMPP account %s: failing messages over failed", self.account.pk)
            return
        if moved:
            logger.info("SMPP account %s unbound: %d messages failed over", self.account.pk, moved)

    # Submitting (called by the engine's rounds, on this loop) ---------------------------------

    async def submit(self, *, message_id: str, to: str, from_number: str | None, body: str) -> SmppSendResult:
        """Every part of one message within the window; the outcome as the engine reads it: a
        result once its parts are written, or the adapter's error (NotSent: nothing left us;
        `not_taken`: the SMSC refused every part)."""
        session = self.session
        if session is None or not self.bound:
            raise NotSent("No bind to the SMSC at the moment; waiting for the bind.", code="smpp_unbound")
        self.submitting += 1
        try:
            if not self.once:
                return await self._submit(session, message_id, to, from_number, body)
            async with self.slots:
                marked = asyncio.get_running_loop().create_future()
                self.marking.append((message_id, codec.count_parts(body), marked))
                self.answered_ready.set()
                await marked
                return await self._submit(session, message_id, to, from_number, body)
        finally:
            self.submitting -= 1
            if not self.submitting:
                self.idle.set()

    async def _submit(
        self, session: SmppSession, message_id: str, to: str, from_number: str | None, body: str
    ) -> SmppSendResult:
        parts = codec.split_body(body, reference=zlib.crc32(message_id.encode()) & 0xFF)
        sender = from_number or (self.account.settings or {}).get("default_sender", "")
        source = codec.sender_address(sender)
        destination = codec.destination_address(to)
        results: list[tuple[str, Any]]
        if len(parts) == 1:  # most messages: no task of its own
            results = [await self._submit_one(session, parts[0], source, destination)]
        else:
            results = await asyncio.gather(
                *(self._submit_one(session, part, source, destination) for part in parts)
            )
        ids = tuple((index, result) for index, (kind, result) in enumerate(results, start=1) if kind == "ok")
        kinds = {kind for kind, _ in results}
        if kinds == {"ok"}:
            written = asyncio.get_running_loop().create_future()
            self.answered.append((message_id, ids, len(parts), written))
            self.answered_ready.set()
            await written
            return SmppSendResult(
                provider_sid_for(self.account.pk, ids[0][1]), "sent", parts=ids, total=len(parts)
            )
        for kind, result in results:
            if kind == "permanent":
                raise PermanentProviderError(result[1], code=result[0])
        if "unknown" in kinds:
            reason = "The bind was lost before the SMSC answered a submit_sm."
            if at_most_once(self.account):
                raise PermanentProviderError(
                    reason + " Sent at most once: not sent again.", code=UNKNOWN_OUTCOME
                )
            raise TransientProviderError(reason, code="smpp_bind_lost")
        if "transient" in kinds:
            code, reason = next(result for kind, result in results if kind == "transient")
            # The SMSC refused every part: none of it was taken, a fallback account may send it.
            raise TransientProviderError(reason, code=code, not_taken=kinds == {"transient"})
        if ids:  # some parts went, the rest never left: the message is sent again whole
            raise TransientProviderError(
                "The bind was lost part-way through a long message.", code="smpp_bind_lost"
            )
        raise NotSent("The bind was lost before it was submitted; waiting for the bind.", code="smpp_unbound")

    async def _submit_one(
        self,
        session: SmppSession,
        part: codec.Part,
        source: tuple[int, int, str],
        destination: tuple[int, int, str],
    ) -> tuple[str, Any]:
        while True:
            await self.pacer.wait()
            try:
                response = await session.request(
                    "submit_sm",
                    on_answer=self._answered,
                    source_addr_ton=source[0],
                    source_addr_npi=source[1],
                    source_addr=source[2],
                    dest_addr_ton=destination[0],
                    dest_addr_npi=destination[1],
                    destination_addr=destination[2],
                    esm_class=part.esm_class,
                    data_coding=part.data_coding,
                    short_message=part.short_message,
                    registered_delivery=codec.REGISTERED_DELIVERY_FINAL,
                )
            except SessionClosed as exc:
                return ("unknown" if exc.written else "unsent"), None
            status = response.status
            if status == codec.ESME_ROK:
                self.pacer.succeeded()
                smsc_id = codec.text(getattr(response, "message_id", b"")).strip("\x00 ")
                if not smsc_id:
                    return "transient", ("smpp_no_id", "The SMSC accepted a part without a message id.")
                return "ok", smsc_id
            name = codec.status_name(status)
            if status in codec.THROTTLING_STATUSES:
                self.pacer.throttled()
                if session.closed.is_set():
                    return "unsent", None
                continue  # in pace, not an attempt
            text = f"{name}: {codec.status_description(status)}"
            if status in codec.PERMANENT_STATUSES:
                return "permanent", (name[:16], text)
            return "transient", (name[:16], text)

    def _answered(self, response: Any) -> None:
        """A submit_sm_resp, as soon as it is read (before a receipt behind it is handled)."""
        if response.status == codec.ESME_ROK:
            smsc_id = codec.text(getattr(response, "message_id", b"")).strip("\x00 ")
            if smsc_id:
                now = cast(asyncio.AbstractEventLoop, self._loop).time()  # run() set it first
                for form in codec.id_forms(smsc_id):
                    if form:
                        self.unwritten[form] = now

    async def _write_loop(self) -> None:
        """The answered parts, a batch every SMPP_WRITE_DELAY_SECONDS; each submit returns once
        its batch is committed. If PostgreSQL is away it is tried again: the round waits."""
        while True:
            await self.answered_ready.wait()
            await asyncio.sleep(settings.SMPP_WRITE_DELAY_SECONDS)  # let a batch gather
            self.answered_ready.clear()
            batch, self.answered = self.answered, []
            marks, self.marking = self.marking, []
            if not batch and not marks:
                continue
            while True:
                try:
                    await self.db(
                        record_parts, self.account, [item[:3] for item in batch], [item[:2] for item in marks]
                    )
                    break
                except Exception:
                    logger.exception(
                        "SMPP account %s: writing %d messages' parts failed; trying again",
                        self.account.pk,
                        len(batch),
                    )
                    await asyncio.sleep(1.0)
            for *_, written in batch + marks:
                if not written.done():
                    written.set_result(None)

    def parts_written(self, smsc_ids: list[str]) -> None:
        """From a round's thread once its write-back committed: receipts for these parts may be
        stored now (before, they would lock the message rows the write-back is updating)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._written, smsc_ids)

    def _written(self, smsc_ids: list[str]) -> None:
        for smsc_id in smsc_ids:
            for form in codec.id_forms(smsc_id):
                self.unwritten.pop(form, None)
        self.written.set()

    # The SMSC's deliver_sm -------------------------------------------------------------------

    async def _on_deliver(self, pdu: Any) -> int:
        try:
            if codec.is_receipt(pdu):
                receipt = codec.parse_receipt(pdu)
            else:
                return await self._on_mo(pdu)
        except ValueError as exc:
            logger.warning(
                "SMPP account %s: unreadable deliver_sm (%s); refused, nothing changed", self.account.pk, exc
            )
            return 0x65  # ESME_RX_P_APPN: a permanent refusal, so that it is not sent again
        raw = {"receipt": codec.text(getattr(pdu, "short_message", b""))[:300]}
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.receipts.append((receipt, raw, future, loop.time() + settings.SMPP_RECEIPT_WAIT_SECONDS))
        self.receipts_ready.set()
        return await future

    async def _receipt_loop(self) -> None:
        """Store receipts in batches. One whose part is in a round not written back yet waits for
        that write-back; one whose id is not known (yet) is tried again with the next batches, for
        a few seconds, before it is taken as an unknown id."""
        loop = asyncio.get_running_loop()
        while True:
            await self.receipts_ready.wait()
            await asyncio.sleep(settings.SMPP_WRITE_DELAY_SECONDS)  # let a batch gather
            self.receipts_ready.clear()
            now = loop.time()
            self._forget_unwritten(now)
            batch: list[_PendingReceipt]
            held: list[_PendingReceipt]
            batch, held = [], []
            for item in self.receipts:
                waits = codec.id_forms(item[0].smsc_id)[0] in self.unwritten and now < item[3]
                (held if waits else batch).append(item)
            self.receipts = held
            if batch:
                await self.storing.acquire()
                asyncio.create_task(self._store(batch))
            if held:
                self.written.clear()
                await _first(self.written.wait(), self.receipts_ready.wait(), asyncio.sleep(0.25))
                self.receipts_ready.set()

    def _forget_unwritten(self, now: float) -> None:
        """Parts of a round whose write-back never came (it failed, or the message was not sent
        whole): their receipts are looked up as any other after a while."""
        horizon = now - 2 * settings.SMPP_RECEIPT_WAIT_SECONDS
        if self.unwritten and next(iter(self.unwritten.values())) < horizon:
            self.unwritten = {k: t for k, t in self.unwritten.items() if t >= horizon}

    async def _store(self, batch: list[_PendingReceipt]) -> None:
        loop = asyncio.get_running_loop()
        # Those that stopped waiting for their round's write-back (the receipt loop lets them go
        # after SMPP_RECEIPT_WAIT_SECONDS): the write-back may be locking their messages now.
        exacts = (codec.id_forms(receipt.smsc_id)[0] for receipt, _, _, _ in batch)
        unwritten = frozenset(exact for exact in exacts if exact in self.unwritten)
        try:
            try:
                answers = await self.db(
                    functools.partial(store_receipts, unwritten=unwritten),
                    self.account,
                    [(r, raw) for r, raw, _, _ in batch],
                )
            except Exception:
                logger.exception(
                    "SMPP account %s: storing %d receipts failed; the SMSC will send them again",
                    self.account.pk,
                    len(batch),
                )
                answers = [codec.ESME_RX_T_APPN] * len(batch)
        finally:
            self.storing.release()
        waiting = []
        for item, answer in zip(batch, answers, strict=True):
            receipt, _, future, give_up_at = item
            if answer is None and loop.time() < give_up_at:
                waiting.append(item)
                continue
            if answer is None:
                logger.warning(
                    "SMPP receipt for unknown message id %r (account %s); acknowledged, nothing changed",
                    receipt.smsc_id,
                    self.account.pk,
                )
                answer = codec.ESME_ROK
            if not future.done():
                future.set_result(answer)
        if waiting:
            await asyncio.sleep(0.1)
            self.receipts = waiting + self.receipts
            self.receipts_ready.set()

    async def _on_mo(self, pdu: Any) -> int:
        short_message = getattr(pdu, "short_message", None) or getattr(pdu, "message_payload", None) or b""
        concat, payload = codec.split_udh(short_message, pdu.esm_class or 0)
        if concat is None and getattr(pdu, "sar_msg_ref_num", None) is not None:
            concat = codec.Concatenation(
                pdu.sar_msg_ref_num, pdu.sar_total_segments or 1, pdu.sar_segment_seqnum or 1
            )
        fields = {
            "source": codec.e164(codec.text(pdu.source_addr), pdu.source_addr_ton or 0),
            "destination": codec.e164(codec.text(pdu.destination_addr), pdu.dest_addr_ton or 0),
            "text": codec.decode_short_message(payload, pdu.data_coding or 0),
            "concatenation": concat,
        }
        if not fields["source"] or not fields["destination"]:
            raise ValueError("MO message without a source or destination address")
        try:
            return await self.db(store_inbound, self.account, fields)
        except Exception:
            logger.exception(
                "SMPP account %s: storing an MO message failed; the SMSC will send it again", self.account.pk
            )
            return codec.ESME_RX_T_APPN

    async def stop(self) -> None:
        self.stopping.set()


async def _first(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of these is done; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


# The manager ------------------------------------------------------------------------------


class BindManager:
    """Keeps one AccountBind per SMPP account on the engine's send loop (restarting it when the
    account's settings change), and runs the engine's rounds for the bound accounts in threads
    of this process."""

    def __init__(self, *, account_ids: list[int] | None = None):
        self.account_ids = account_ids
        self.binds: dict[int, tuple[object, AccountBind, asyncio.Task[None]]] = {}
        self.db_threads = settings.SMPP_DB_THREADS
        self.db = ThreadPoolExecutor(max_workers=self.db_threads, thread_name_prefix="smpp-db")
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt = threading.Event()
        self._rounds_stop = threading.Event()
        self.started = threading.Event()

    def _accounts(self) -> list[ProviderAccount]:
        accounts = ProviderAccount.objects.filter(  # a disabled account sends nothing
            provider=ProviderKind.SMPP, status=CarrierAccountStatus.ACTIVE
        ).select_related("workspace")
        if self.account_ids is not None:
            accounts = accounts.filter(pk__in=self.account_ids)
        return list(accounts)

    async def main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.started.set()
        try:
            while not self._stop.is_set():
                try:
                    accounts = await self._loop.run_in_executor(self.db, db_job, self._accounts)
                except Exception:
                    logger.exception("SMPP bind manager: reading the accounts failed")
                    accounts = None
                if accounts is not None:
                    await self._reconcile(accounts)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), settings.SMPP_ACCOUNTS_REFRESH_SECONDS)
        finally:
            await self._reconcile([])

    async def _reconcile(self, accounts: list[ProviderAccount]) -> None:
        wanted = {account.pk: account for account in accounts}
        for pk, (version, bind, task) in list(self.binds.items()):
            account = wanted.get(pk)
            if account is None or _version(account) != version or task.done():
                await bind.stop()
                await asyncio.gather(task, return_exceptions=True)
                del self.binds[pk]
                if _live.get(pk) is bind:
                    del _live[pk]
        for pk, account in wanted.items():
            if pk not in self.binds:
                bind = AccountBind(account, self.db)
                self.binds[pk] = (_version(account), bind, asyncio.create_task(bind.run()))
                _live[pk] = bind

    def _scope(self) -> Scope | None:
        """What the rounds claim now: the messages of the accounts whose bind is up."""
        from messaging.dispatch import Scope

        bound = frozenset(pk for pk, (_, bind, _) in list(self.binds.items()) if bind.bound)
        return Scope(account_ids=bound) if bound else None

    def run_forever(self) -> None:
        """The binds on the engine's send loop and the rounds in threads, until stop()."""
        from messaging import dispatch

        main = asyncio.run_coroutine_threadsafe(self.main(), dispatch.event_loop())
        # SQLite (the embedded default) takes one writer at a time: one round at a time there.
        runners = 1 if connection.vendor == "sqlite" else settings.SMPP_ROUND_RUNNERS
        busy = threading.Event()
        threads = [
            threading.Thread(
                target=dispatch.serve_rounds,
                name=f"smpp-rounds-{n}",
                daemon=True,
                kwargs={
                    "scope": self._scope,
                    "stop": self._rounds_stop,
                    "limit": settings.SMPP_BATCH_SIZE,
                    "idle_seconds": settings.SMPP_POLL_SECONDS,
                    "busy": busy,
                    "helper": n > 0,
                },
            )
            for n in range(runners)
        ]
        for thread in threads:
            thread.start()
        try:
            while not self._halt.wait(0.5) and not main.done():
                pass
        finally:
            # The rounds first (each ends with its write-back), then the binds.
            self._rounds_stop.set()
            for thread in threads:
                thread.join()
            if self.started.wait(5) and self._loop is not None:
                self._loop.call_soon_threadsafe(cast(asyncio.Event, self._stop).set)  # main() set it first
            with contextlib.suppress(Exception):
                main.result(30)
            _close_connections(self.db, self.db_threads)

    def stop(self) -> None:
        """From any thread (a signal handler too)."""
        self._halt.set()


def _close_connections(executor: ThreadPoolExecutor, threads: int) -> None:
    """Each database thread closes its connection (one job per thread, held at a barrier)."""
    barrier = threading.Barrier(threads)

    def close() -> None:
        connections.close_all()
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(5)

    for future in [executor.submit(close) for _ in range(threads)]:
        with contextlib.suppress(Exception):
            future.result(10)
    executor.shutdown(wait=True)


def _version(account: ProviderAccount) -> tuple[object, ...]:
    return (account.updated_at, account.auth_token, repr(sorted((account.settings or {}).items())))


_in_process: BindManager | None = None
_in_process_lock = threading.Lock()


def start_in_process() -> BindManager:
    """The binds in a daemon thread of this process (the embedded default, `make run`)."""
    global _in_process
    with _in_process_lock:
        if _in_process is None:
            _in_process = BindManager()
            thread = threading.Thread(target=_in_process.run_forever, name="smpp-binds", daemon=True)
            thread.start()
        return _in_process
