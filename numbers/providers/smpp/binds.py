"""The bind process: every SMPP account's bind on one asyncio loop, fed from the messages table
(the queue of record, as for every carrier), writing outcomes back in batches.

Per account: bind (reconnecting with backoff, rebinding when the SMSC drops the bind), claim due
queued messages in one statement, submit their parts within the window at the account's
throughput (throttling answers pause the bind and are retried, not counted as attempts), store
receipts and MO messages as carrier events before answering their deliver_sm.

Database work of one account runs on one thread of its own, in order: a receipt is looked up only
after the submit_sm_resp that came before it has been written.

Runs as `python manage.py smpp_binds` (the Procfile's `smpp` line), or in a thread of the server
process under the embedded default (SMPP_BINDS_IN_PROCESS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from numbers.models import (
    CarrierAccountStatus,
    ProviderAccount,
    ProviderKind,
    SmppInboundPart,
    SmppPart,
    SmppPartStatus,
)

from . import codec
from .provider import AT_MOST_ONCE, session_config
from .session import SessionClosed, SmppError, SmppSession

logger = logging.getLogger(__name__)

UNKNOWN_OUTCOME = "smpp_unknown"


PartState = tuple[str, str | None, str | None]  # status, error code, error message


def aggregate_status(parts: list[PartState]) -> PartState | tuple[None, None, None]:
    """A message's status from its parts' (status, error_code, error_message): the first failed
    or undelivered part decides; delivered once every part is; otherwise nothing new (None)."""
    for status, code, message in parts:
        if status in (SmppPartStatus.FAILED, SmppPartStatus.UNDELIVERED):
            return status, code, message
    if parts and all(status == SmppPartStatus.DELIVERED for status, _, _ in parts):
        return "delivered", None, None
    return None, None, None


def provider_sid_for(account_id: int, first_smsc_id: str) -> str:
    """The message's provider_sid: unique on the installation although two SMSCs may hand out the
    same ids."""
    return f"smpp-{account_id}-{first_smsc_id}"[:64]


@dataclass
class Outcome:
    message: object
    kind: str  # sent, failed, retry, release, unknown, not_taken (refused: to its fallback)
    parts: list[tuple[int, str]] = field(default_factory=list)  # (index, smsc id) when sent
    total: int = 1
    code: str | None = None
    reason: str = ""


class Pacer:
    """At most `rate` submit_sm per second on the bind (None: as fast as the window allows);
    a throttling answer pauses every submit, longer while the SMSC keeps throttling."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = 0.0
        self.paused_until = 0.0
        self.pause = settings.SMPP_THROTTLE_PAUSE_SECONDS

    async def wait(self) -> None:
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


# Database side (runs on the account's database thread) ----------------------------------------


def _db_job(function, *args):
    """Run on a database thread of the bind process, which keeps its connection for as long as
    it works (connecting per job would cost more than most jobs): one that failed and no longer
    answers, or is past a positive CONN_MAX_AGE, is replaced."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.connection is not None:
        if connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
        elif connection.settings_dict.get("CONN_MAX_AGE"):
            close_old_connections()
    return function(*args)


def claim_messages(account: ProviderAccount, limit: int) -> list:
    """Move up to `limit` due queued messages of the account (messages whose own carrier account
    it is: numbers.routing.account_for_message) to `sending` in one statement."""
    from messaging import lifecycle

    at_most_once = (account.settings or {}).get("uncertain_submits") == AT_MOST_ONCE
    with transaction.atomic():
        messages = lifecycle.messages_claim_due(limit=limit, account_ids=[account.pk])
        if not messages:
            return []
        # Parts written before their submit_sm and never answered: a crash or a lost bind.
        doubtful = set(SmppPart.objects.filter(message__in=messages, status=SmppPartStatus.SUBMITTING)
                       .values_list("message_id", flat=True))
        unknown = [m for m in messages if m.pk in doubtful and at_most_once]
        lifecycle.messages_fail([
            lifecycle.Failed(m.pk, UNKNOWN_OUTCOME, "The bind was lost before the SMSC answered; the "
                             "account sends such messages at most once, so it was not sent again.")
            for m in unknown], source="smpp")
        ready = [m for m in messages if not (m.pk in doubtful and at_most_once)]
        if doubtful:
            SmppPart.objects.filter(message_id__in=doubtful).delete()
        if at_most_once:
            SmppPart.objects.bulk_create([
                SmppPart(account=account, message=m, index=index, total=total,
                         status=SmppPartStatus.SUBMITTING)
                for m in ready for total in [codec.count_parts(m.body)]
                for index in range(1, total + 1)])
    return ready


def write_outcomes(account: ProviderAccount, outcomes: list[Outcome]) -> None:
    """Write a batch of submit outcomes in one transaction, through the lifecycle's batch
    functions (one statement per kind of outcome)."""
    from messaging import lifecycle

    at_most_once = (account.settings or {}).get("uncertain_submits") == AT_MOST_ONCE
    sent = [o for o in outcomes if o.kind == "sent"]
    failed, retry, release = [], [], []
    not_taken = [o for o in outcomes if o.kind == "not_taken"]
    failovers = failover_items(account, [(o.message, o.code, o.reason) for o in not_taken])
    going = {item.message_id for item in failovers}
    for outcome in outcomes:
        message = outcome.message
        if outcome.kind == "not_taken" and message.pk not in going:
            outcome.kind = "retry"  # its fallback cannot take it: the refusal's ordinary course
        if outcome.kind == "failed":
            failed.append(lifecycle.Failed(message.pk, (outcome.code or "smpp_refused")[:16],
                                           outcome.reason))
        elif outcome.kind == "unknown" and at_most_once:
            failed.append(lifecycle.Failed(message.pk, UNKNOWN_OUTCOME,
                                           outcome.reason + " Sent at most once: not sent again."))
        elif outcome.kind in ("retry", "unknown"):
            retry.append(lifecycle.RetryLater(message.pk, message.attempts, outcome.reason,
                                              outcome.code, None))
        elif outcome.kind == "release":
            # Back to `queued` as if never claimed: none of it reached the SMSC.
            release.append(lifecycle.WaitForSlot(
                message.pk, time.time(),
                "The bind was lost before it was submitted; waiting for the bind."))
    with transaction.atomic():
        if sent:
            SmppPart.objects.filter(message_id__in=[o.message.pk for o in sent]).delete()
            SmppPart.objects.bulk_create([
                SmppPart(account=account, message_id=o.message.pk, index=index, total=o.total,
                         status=SmppPartStatus.SUBMITTED, smsc_id=smsc_id, id_exact=exact,
                         id_as_decimal=as_decimal, id_as_hex=as_hex)
                for o in sent for index, smsc_id in o.parts
                for exact, as_decimal, as_hex in [codec.id_forms(smsc_id)]])
            lifecycle.messages_mark_sent(
                [lifecycle.Sent(o.message.pk, provider_sid_for(account.pk, o.parts[0][1]))
                 for o in sent], source="smpp")
        lifecycle.messages_fail(failed, source="smpp")
        # The bind's own loop claims due messages from the table: no wake-up needed.
        lifecycle.messages_retry_later(retry, wake=False)
        lifecycle.messages_wait_for_slot(release)
        _fail_over(failovers)
        if at_most_once:
            unsent = [o.message.pk for o in outcomes
                      if o.kind in ("release", "failed", "retry", "not_taken")]
            SmppPart.objects.filter(message_id__in=unsent, status=SmppPartStatus.SUBMITTING).delete()


def failover_items(account: ProviderAccount, refused: list[tuple[object, str | None, str]]) -> list:
    """Messages the account definitely did not take ((message, code, reason)) onto their fallback
    accounts, from those accounts' senders; those without a fallback that can take them are left
    out."""
    from messaging import lifecycle
    from numbers.routing import failover_targets

    targets = failover_targets(m.fallback_account_id for m, _, _ in refused if m.fallback_account_id)
    items = []
    for message, code, reason in refused:
        target = targets.get(message.fallback_account_id)
        if target is None:
            continue
        fallback, from_number, service_sid = target
        items.append(lifecycle.FailOver(
            message.pk, fallback.pk, from_number, service_sid, (code or "not_taken")[:16],
            f"smpp did not take it ({reason}); failed over to carrier account {fallback.uid} "
            f"({fallback.provider})."))
    return items


def _fail_over(items: list) -> None:
    """Through the lifecycle; the fallback's runners are woken for them after commit (a fallback
    that is another bind claims them from the table itself)."""
    from messaging import lifecycle, wakeup

    moved = lifecycle.messages_fail_over(items)
    if moved:
        ids = [m.pk for m in moved]
        transaction.on_commit(lambda: wakeup.wake(message_ids=ids))


def fail_over_unbound(account: ProviderAccount, reason: str) -> int:
    """The bind could not be made: the account's due messages that have a fallback account go to
    it (nothing of them reached this SMSC); answers how many."""
    from messaging import lifecycle

    moved = 0
    while True:
        with transaction.atomic():
            claimed = lifecycle.messages_claim_due(limit=settings.SMPP_BATCH_SIZE,
                                                   account_ids=[account.pk], with_fallback=True,
                                                   announce=False)
            if not claimed:
                return moved
            items = failover_items(account, [(m, "smpp_unreachable", reason) for m in claimed])
            going = {item.message_id for item in items}
            _fail_over(items)
            # No fallback that can take them: back as they were, waiting for the bind.
            stay = [lifecycle.WaitForSlot(m.pk, time.time() + settings.SMPP_RECONNECT_MAX_SECONDS)
                    for m in claimed if m.pk not in going]
            lifecycle.messages_wait_for_slot(stay, announced=False)
            moved += len(items)
            if len(claimed) < settings.SMPP_BATCH_SIZE:
                return moved


def _find_parts(account: ProviderAccount, smsc_ids: list[str]) -> dict[str, SmppPart]:
    """The parts these receipt ids name, locked, in one query: by the id as the SMSC gave it
    (the newest such part), else by its other spelling (hex read as decimal, or the reverse)."""
    exacts = {codec.id_forms(smsc_id)[0] for smsc_id in smsc_ids}
    parts = (SmppPart.objects.select_for_update().select_related("message")
             .filter(Q(id_exact__in=exacts) | Q(id_as_decimal__in=exacts) | Q(id_as_hex__in=exacts),
                     account=account).order_by("pk"))
    by_exact: dict[str, SmppPart] = {}
    by_other: dict[str, SmppPart] = {}
    for part in parts:  # oldest first: the newest of each id wins
        by_exact[part.id_exact] = part
        for other in (part.id_as_decimal, part.id_as_hex):
            if other:
                by_other[other] = part
    return {exact: by_exact.get(exact) or by_other.get(exact) for exact in exacts
            if by_exact.get(exact) or by_other.get(exact)}


def store_receipts(account: ProviderAccount, receipts: list[tuple[codec.Receipt, dict]]) -> list[int | None]:
    """Apply a batch of receipts to their parts and record a carrier event for each message whose
    aggregate status changes, in one transaction and a few statements whatever the batch's size;
    answers each receipt's deliver_sm_resp status, None for an unknown id."""
    from messaging.carrier_intake import carrier_events_store_many, intake_event

    answers: list[int | None] = []
    now = timezone.now()
    with transaction.atomic():
        found = _find_parts(account, [receipt.smsc_id for receipt, _ in receipts])
        changed: dict[int, SmppPart] = {}
        decided = []  # (part, receipt, raw) whose receipt moved the part
        for receipt, raw in receipts:
            part = found.get(codec.id_forms(receipt.smsc_id)[0])
            if part is None:
                answers.append(None)  # not (yet) known: the caller decides
                continue
            answers.append(codec.ESME_ROK)
            if receipt.status is None or part.status != SmppPartStatus.SUBMITTED:
                continue  # an intermediate state, or a repeated receipt
            part.status, part.error_code, part.error_message = (receipt.status, receipt.error_code,
                                                                receipt.error_message)
            part.receipt_at = now
            changed[part.pk] = part
            decided.append((part, receipt, raw))
        if not changed:
            return answers
        # One UPDATE per distinct outcome (a batch's receipts mostly say the same).
        by_outcome: dict[tuple, list[int]] = {}
        for part in changed.values():
            by_outcome.setdefault((part.status, part.error_code, part.error_message), []).append(part.pk)
        for (status, code, text), ids in by_outcome.items():
            SmppPart.objects.filter(pk__in=ids).update(status=status, error_code=code,
                                                       error_message=text, receipt_at=now)
        long_ones = {p.message_id for p in changed.values() if p.total > 1}
        siblings: dict[str, list[SmppPart]] = {}
        if long_ones:
            for sibling in SmppPart.objects.filter(message_id__in=long_ones).order_by("index"):
                siblings.setdefault(sibling.message_id, []).append(changed.get(sibling.pk, sibling))
        events, messages, told = [], [], set()
        for part, receipt, raw in decided:
            group = siblings.get(part.message_id, [part])
            status, code, text = aggregate_status([(p.status, p.error_code, p.error_message)
                                                   for p in group])
            if status is None or (part.message_id, status) in told:
                continue
            told.add((part.message_id, status))
            message = part.message
            params = {"MessageSid": message.provider_sid or "", "MessageStatus": status,
                      "ErrorCode": code or "", "ErrorMessage": text or "",
                      "To": message.to_number, "From": message.from_number,
                      "smsc_id": receipt.smsc_id, "stat": receipt.stat, "err": receipt.error,
                      "part": f"{part.index}/{part.total}", **raw}
            events.append(intake_event(workspace_id=account.workspace_id, provider="smpp",
                                       kind="status", payload=params, message_id=message.pk))
            messages.append(message)
        carrier_events_store_many(events, messages)
    return answers


def store_inbound(account: ProviderAccount, fields: dict) -> int:
    """An MO message (or one part of it): recorded as an inbound carrier event once complete."""
    from messaging.carrier_intake import carrier_event_store, intake_event

    source, destination = fields["source"], fields["destination"]
    concat = fields.get("concatenation")
    with transaction.atomic():
        if concat is None:
            body = fields["text"]
        else:
            SmppInboundPart.objects.get_or_create(
                account=account, source=source, destination=destination, reference=concat.reference,
                total=concat.total, index=concat.index, defaults={"text": fields["text"]})
            siblings = list(SmppInboundPart.objects.select_for_update().filter(
                account=account, source=source, destination=destination, reference=concat.reference,
                total=concat.total).order_by("index"))
            if len(siblings) < concat.total:
                return codec.ESME_ROK  # kept until the other parts arrive
            body = "".join(part.text for part in siblings)
            SmppInboundPart.objects.filter(pk__in=[part.pk for part in siblings]).delete()
        params = {"MessageSid": "SMPP" + uuid.uuid4().hex, "From": source, "To": destination,
                  "Body": body, "NumMedia": "0"}
        carrier_event_store(intake_event(workspace_id=account.workspace_id, provider="smpp",
                                         kind="inbound", payload=params))
    return codec.ESME_ROK


def expire_inbound_parts(*, now=None) -> int:
    """MO messages whose parts stopped arriving: once the first part is SMPP_MO_PARTS_MAX_AGE_SECONDS
    old, what arrived is taken in as one inbound message (a missing part shown as "…"), so that
    no text the handset sent is lost, and the parts are dropped. Answers how many messages."""
    from messaging.carrier_intake import carrier_event_store, intake_event

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SMPP_MO_PARTS_MAX_AGE_SECONDS)
    stale = (SmppInboundPart.objects.filter(received_at__lt=cutoff)
             .values_list("account_id", "source", "destination", "reference", "total").distinct())
    taken = 0
    for account_id, source, destination, reference, total in stale[:1000]:
        with transaction.atomic():
            parts = list(SmppInboundPart.objects.select_for_update().select_related("account")
                         .filter(account_id=account_id, source=source, destination=destination,
                                 reference=reference, total=total).order_by("index"))
            if not parts:
                continue  # completed or taken by another run meanwhile
            texts = {part.index: part.text for part in parts}
            body = "".join(texts.get(index, " … ") for index in range(1, total + 1)).strip()
            params = {"MessageSid": "SMPP" + uuid.uuid4().hex, "From": source, "To": destination,
                      "Body": body, "NumMedia": "0"}
            carrier_event_store(intake_event(workspace_id=parts[0].account.workspace_id,
                                             provider="smpp", kind="inbound", payload=params))
            SmppInboundPart.objects.filter(pk__in=[part.pk for part in parts]).delete()
        logger.warning("SMPP MO message %s→%s (ref %s): %d of %d parts arrived; taken in as it is",
                       source, destination, reference, len(parts), total)
        taken += 1
    return taken


# The bind ---------------------------------------------------------------------------------


class AccountBind:
    """One SMPP account's bind, for as long as the account stays as it is."""

    def __init__(self, account: ProviderAccount):
        self.account = account
        self.config = session_config(account)
        values = account.settings or {}
        self.pacer = Pacer(float(values["throughput"]) if values.get("throughput") else None)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"smpp-db-{account.pk}")
        self.stopping = asyncio.Event()
        self.session: SmppSession | None = None
        self.in_flight: set[asyncio.Task] = set()
        self.outcomes: list[Outcome] = []
        self.outcomes_ready = asyncio.Event()
        self.receipts: list[tuple[codec.Receipt, dict, asyncio.Future]] = []
        self.receipts_ready = asyncio.Event()
        self.room = asyncio.Event()
        self.bound_once = asyncio.Event()

    def __repr__(self) -> str:
        return f"<AccountBind {self.account.pk} {self.config.host}:{self.config.port}>"

    async def db(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, _db_job, function, *args)

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        receipts = asyncio.create_task(self._receipt_loop())
        backoff = settings.SMPP_RECONNECT_MIN_SECONDS
        try:
            while not self.stopping.is_set():
                session = SmppSession(self.config, on_deliver=self._on_deliver)
                try:
                    await session.open()
                except (SmppError, OSError, TimeoutError) as exc:
                    logger.warning("SMPP bind of account %s to %s:%s failed: %s", self.account.pk,
                                   self.config.host, self.config.port, exc)
                    await self._fail_over_unbound(exc)
                else:
                    logger.info("SMPP account %s bound to %s:%s", self.account.pk, self.config.host,
                                self.config.port)
                    backoff = settings.SMPP_RECONNECT_MIN_SECONDS
                    self.session = session
                    self.bound_once.set()
                    await self._feed(session)
                    self.session = None
                    await session.close()
                if self.stopping.is_set():
                    break
                delay = random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not security
                backoff = min(backoff * 2, settings.SMPP_RECONNECT_MAX_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
        finally:
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)
            writer.cancel()
            receipts.cancel()
            await asyncio.gather(writer, receipts, return_exceptions=True)
            await self._flush_outcomes()
            await self.db(connections.close_all)
            self.executor.shutdown(wait=True)

    async def _fail_over_unbound(self, exc: BaseException) -> None:
        reason = f"no bind to {self.config.host}:{self.config.port}: {exc or type(exc).__name__}"
        try:
            moved = await self.db(fail_over_unbound, self.account, reason)
        except Exception:
            logger.exception("SMPP account %s: failing messages over failed", self.account.pk)
            return
        if moved:
            logger.info("SMPP account %s unbound: %d messages failed over", self.account.pk, moved)

    async def _feed(self, session: SmppSession) -> None:
        """Claim and submit while the bind lasts; wait for what is in flight when it ends."""
        most = max(1, self.config.window * 2)
        poll = settings.SMPP_POLL_SECONDS
        while not session.closed.is_set() and not self.stopping.is_set():
            room = most - len(self.in_flight)
            if room <= 0:
                self.room.clear()
                await _first(self.room.wait(), session.closed.wait(), self.stopping.wait())
                continue
            try:
                messages = await self.db(claim_messages, self.account, min(room, settings.SMPP_BATCH_SIZE))
            except Exception:
                logger.exception("SMPP account %s: claiming messages failed", self.account.pk)
                messages = []
            for message in messages:
                task = asyncio.create_task(self._send(session, message))
                self.in_flight.add(task)
                task.add_done_callback(self._sent)
            if len(messages) < min(room, settings.SMPP_BATCH_SIZE):
                await _first(asyncio.sleep(poll), session.closed.wait(), self.stopping.wait())
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    def _sent(self, task: asyncio.Task) -> None:
        self.in_flight.discard(task)
        self.room.set()

    async def _send(self, session: SmppSession, message) -> None:
        try:
            outcome = await self._submit_parts(session, message)
        except Exception as exc:  # a bug here must not lose the message: it is retried
            logger.exception("SMPP account %s: sending %s failed", self.account.pk, message.pk)
            outcome = Outcome(message, "retry", code="smpp_error", reason=str(exc)[:200])
        self.outcomes.append(outcome)
        self.outcomes_ready.set()

    async def _submit_parts(self, session: SmppSession, message) -> Outcome:
        parts = codec.split_body(message.body, reference=zlib.crc32(message.pk.encode()) & 0xFF)
        sender = message.from_number or (self.account.settings or {}).get("default_sender", "")
        source = codec.sender_address(sender)
        destination = codec.destination_address(message.to_number)
        results = await asyncio.gather(*(self._submit_one(session, part, source, destination)
                                         for part in parts))
        ids = [(index, result) for index, (kind, result) in enumerate(results, start=1) if kind == "ok"]
        kinds = {kind for kind, _ in results}
        if kinds == {"ok"}:
            return Outcome(message, "sent", parts=ids, total=len(parts))
        for kind, result in results:
            if kind == "permanent":
                return Outcome(message, "failed", code=result[0], reason=result[1])
        if "unknown" in kinds:
            return Outcome(message, "unknown", code="smpp_bind_lost",
                           reason="The bind was lost before the SMSC answered a submit_sm.")
        if "transient" in kinds:
            code, reason = next(result for kind, result in results if kind == "transient")
            # The SMSC refused every part: none of it was taken, its fallback may send it.
            refused = kinds == {"transient"} and message.fallback_account_id
            return Outcome(message, "not_taken" if refused else "retry", code=code, reason=reason)
        if ids:  # some parts went, the rest never left: the message is sent again whole
            return Outcome(message, "retry", code="smpp_bind_lost",
                           reason="The bind was lost part-way through a long message.")
        return Outcome(message, "release")

    async def _submit_one(self, session: SmppSession, part: codec.Part, source, destination):
        while True:
            await self.pacer.wait()
            try:
                response = await session.request(
                    "submit_sm", source_addr_ton=source[0], source_addr_npi=source[1],
                    source_addr=source[2], dest_addr_ton=destination[0], dest_addr_npi=destination[1],
                    destination_addr=destination[2], esm_class=part.esm_class,
                    data_coding=part.data_coding, short_message=part.short_message,
                    registered_delivery=codec.REGISTERED_DELIVERY_FINAL)
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

    async def _write_loop(self) -> None:
        while True:
            await self.outcomes_ready.wait()
            await asyncio.sleep(settings.SMPP_WRITE_DELAY_SECONDS)  # let a batch gather
            await self._flush_outcomes()

    async def _flush_outcomes(self) -> None:
        self.outcomes_ready.clear()
        batch, self.outcomes = self.outcomes, []
        if not batch:
            return
        while True:
            try:
                await self.db(write_outcomes, self.account, batch)
                break
            except Exception:
                # The messages stay `sending` in the database meanwhile; nothing is lost.
                logger.exception("SMPP account %s: writing %d outcomes failed; trying again",
                                 self.account.pk, len(batch))
                await asyncio.sleep(1.0)

    # The SMSC's deliver_sm -------------------------------------------------------------------

    async def _on_deliver(self, pdu) -> int:
        try:
            if codec.is_receipt(pdu):
                receipt = codec.parse_receipt(pdu)
            else:
                return await self._on_mo(pdu)
        except ValueError as exc:
            logger.warning("SMPP account %s: unreadable deliver_sm (%s); refused, nothing changed",
                           self.account.pk, exc)
            return 0x65  # ESME_RX_P_APPN: a permanent refusal, so that it is not sent again
        raw = {"receipt": codec.text(getattr(pdu, "short_message", b""))[:300]}
        future = asyncio.get_running_loop().create_future()
        give_up_at = asyncio.get_running_loop().time() + settings.SMPP_RECEIPT_WAIT_SECONDS
        self.receipts.append((receipt, raw, future, give_up_at))
        self.receipts_ready.set()
        return await future

    async def _receipt_loop(self) -> None:
        """Store receipts in batches, after the outcomes gathered so far (a receipt can come
        right behind its submit_sm_resp). One whose part is not written yet (the other parts of
        its message are still out) is tried again with the next batches, for a few seconds,
        before it is taken as an unknown id."""
        loop = asyncio.get_running_loop()
        while True:
            await self.receipts_ready.wait()
            await asyncio.sleep(settings.SMPP_WRITE_DELAY_SECONDS)
            self.receipts_ready.clear()
            batch, self.receipts = self.receipts, []
            if not batch:
                continue
            await self._flush_outcomes()
            try:
                answers = await self.db(store_receipts, self.account, [(r, raw) for r, raw, _, _ in batch])
            except Exception:
                logger.exception("SMPP account %s: storing %d receipts failed; the SMSC will send "
                                 "them again", self.account.pk, len(batch))
                answers = [codec.ESME_RX_T_APPN] * len(batch)
            waiting = []
            for item, answer in zip(batch, answers, strict=True):
                receipt, _, future, give_up_at = item
                if answer is None and loop.time() < give_up_at:
                    waiting.append(item)
                    continue
                if answer is None:
                    logger.warning("SMPP receipt for unknown message id %r (account %s); "
                                   "acknowledged, nothing changed", receipt.smsc_id, self.account.pk)
                    answer = codec.ESME_ROK
                if not future.done():
                    future.set_result(answer)
            if waiting:
                self.receipts = waiting + self.receipts
                await asyncio.sleep(0.1)
                self.receipts_ready.set()

    async def _on_mo(self, pdu) -> int:
        short_message = getattr(pdu, "short_message", None) or getattr(pdu, "message_payload", None) or b""
        concat, payload = codec.split_udh(short_message, pdu.esm_class or 0)
        if concat is None and getattr(pdu, "sar_msg_ref_num", None) is not None:
            concat = codec.Concatenation(pdu.sar_msg_ref_num, pdu.sar_total_segments or 1,
                                         pdu.sar_segment_seqnum or 1)
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
            logger.exception("SMPP account %s: storing an MO message failed; the SMSC will send it "
                             "again", self.account.pk)
            return codec.ESME_RX_T_APPN

    async def stop(self) -> None:
        self.stopping.set()


async def _first(*awaitables) -> None:
    """Wait until the first of these is done; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


# The manager ------------------------------------------------------------------------------


class BindManager:
    """Keeps one AccountBind per SMPP account, restarting it when the account's settings change."""

    def __init__(self, *, account_ids: list[int] | None = None):
        self.account_ids = account_ids
        self.binds: dict[int, tuple[object, AccountBind, asyncio.Task]] = {}
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()

    def _accounts(self) -> list[ProviderAccount]:
        accounts = (ProviderAccount.objects  # a disabled account sends nothing
                    .filter(provider=ProviderKind.SMPP, status=CarrierAccountStatus.ACTIVE)
                    .select_related("workspace"))
        if self.account_ids is not None:
            accounts = accounts.filter(pk__in=self.account_ids)
        return list(accounts)

    async def main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smpp-manager")
        self.started.set()
        try:
            while not self._stop.is_set():
                try:
                    accounts = await self._loop.run_in_executor(executor, _db_job, self._accounts)
                except Exception:
                    logger.exception("SMPP bind manager: reading the accounts failed")
                    accounts = None
                if accounts is not None:
                    await self._reconcile(accounts)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), settings.SMPP_ACCOUNTS_REFRESH_SECONDS)
        finally:
            await self._reconcile([])
            await self._loop.run_in_executor(executor, connections.close_all)
            executor.shutdown()

    async def _reconcile(self, accounts: list[ProviderAccount]) -> None:
        wanted = {account.pk: account for account in accounts}
        for pk, (version, bind, task) in list(self.binds.items()):
            account = wanted.get(pk)
            if account is None or _version(account) != version or task.done():
                await bind.stop()
                await asyncio.gather(task, return_exceptions=True)
                del self.binds[pk]
        for pk, account in wanted.items():
            if pk not in self.binds:
                bind = AccountBind(account)
                self.binds[pk] = (_version(account), bind, asyncio.create_task(bind.run()))

    def run_forever(self) -> None:
        asyncio.run(self.main())

    def stop(self) -> None:
        """From any thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


def _version(account: ProviderAccount):
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

