"""The delivery engine: outbound messages to the carrier many at a time, from the messages table.

The messages table is the queue of record. A round claims up to DISPATCH_BATCH_SIZE due messages
in one statement (`lifecycle.messages_claim_due`: `queued` → `sending`, rows another worker holds
skipped), reserves each sender's pacing slots in one Redis trip per sender, sends the messages
concurrently on one event loop per process (the adapter's `send_async`, keep-alive connections
per account), and writes every outcome back in one transaction through the lifecycle module: one
UPDATE per kind of outcome from a VALUES list, one multi-row INSERT of events, one publish per
workspace. The claim, the lease and the carrier look-up before a resend (messaging.sweeps) keep
each message sent once through crashes: a worker that dies mid-round leaves its messages
`sending`, and the sweep asks the carrier about them once their lease has run out.

Runners: a Celery task (`messaging.tasks.dispatch`) runs rounds while messages are due, at most
DISPATCH_RUNNERS at a time across all workers, and is started by a coalesced wake-up
(messaging.wakeup) when messages are accepted or come due, by beat every DISPATCH_TICK_SECONDS
as the backstop, and by the sweep. Carrier accounts whose sends a process of its own makes (an
SMPP bind lives in one) are left to it: Celery's rounds skip those providers
(DISPATCH_OWN_PROCESS_PROVIDERS), and that process runs the same rounds from threads of its own
(`serve_rounds`, scoped to the accounts it holds), its adapter's `send_async` on this process's
send loop, with the adapter's round hooks (Capability.ROUND_HOOKS) for what it keeps beside a
message.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from messaging_platform import keepalive_http, metrics
from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import (
    Capability,
    NotSent,
    PermanentProviderError,
    SendInDoubt,
    SendResult,
    TransientProviderError,
    async_sender,
)
from numbers.selectors import status_webhook_url, with_query
from workspaces.models import Workspace

from . import lifecycle, pacing, wakeup
from .lifecycle import Failed, FailOver, RetryLater, Sent, WaitForSlot
from .models import Message, Status
from .operations.logs import log_message_outcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """Which messages a runner claims: those of carrier accounts of `providers` (None: any),
    except those of `exclude_providers`, and only of the accounts `account_ids` (None: any)."""

    providers: frozenset[str] | None = None
    exclude_providers: frozenset[str] = frozenset()
    account_ids: frozenset[int] | None = None


def celery_scope() -> Scope:
    """What Celery's rounds claim: everything but the providers served by processes of their own."""
    return Scope(exclude_providers=frozenset(settings.DISPATCH_OWN_PROCESS_PROVIDERS))


# --- the event loop the sends run on (one per process) ---------------------------------------

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's send loop, in a daemon thread, started on first use (and again in a forked
    child, which inherits no running thread)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="dispatch-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def _close_pools() -> None:
    """At exit, close the send loop's keep-alive pools (quietly, rather than at interpreter exit)."""
    loop = _loop
    if loop is not None and _loop_pid == os.getpid() and loop.is_running():
        from numbers.providers.twilio import close_async_sessions

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_async_sessions(), loop).result(2)


atexit.register(_close_pools)


def run_on_loop(coroutine):
    """Run a coroutine on the send loop from a synchronous thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, event_loop()).result()


# --- one round ---------------------------------------------------------------------------------


@dataclass
class _Job:
    message: Message
    provider: object
    callback: str
    sender: pacing.PacedSender | None = None
    go_at: float = 0.0  # epoch seconds: its pacing slot (0: now)


@dataclass
class Outcomes:
    sent: list[Sent] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    retry: list[RetryLater] = field(default_factory=list)
    wait: list[WaitForSlot] = field(default_factory=list)
    not_taken: list[tuple[_Job, Exception]] = field(default_factory=list)  # to fail over
    results: list[tuple[_Job, SendResult]] = field(default_factory=list)  # for the round hooks
    jobs: list[_Job] = field(default_factory=list)  # every message the round sent or tried to


def dispatch_round(*, limit: int | None = None, scope: Scope | None = None) -> int:
    """Claim up to `limit` due messages, send them, write the outcomes; answers how many it claimed."""
    return _round(limit or settings.DISPATCH_BATCH_SIZE, scope or celery_scope())[0]


def _round(limit: int, scope: Scope) -> tuple[int, Outcomes | None]:
    claimed = lifecycle.messages_claim_due(
        limit=limit,
        providers=scope.providers,
        exclude_providers=scope.exclude_providers,
        account_ids=scope.account_ids,
        announce=False,
    )
    return len(claimed), (deliver(claimed, announced=False) if claimed else None)


def dispatch_messages(message_ids: Sequence[str]) -> list[RetryLater]:
    """Claim and send these messages if they are still queued, whenever they are due (the tasks
    of an eager run, and sends woken by id); answers the retries it scheduled."""
    claimed = lifecycle.messages_claim(message_ids=list(message_ids))
    if not claimed:
        return []
    outcomes = deliver(claimed)
    # Those gone to their fallback account are due again at once, like a retry.
    return outcomes.retry + [RetryLater(job.message.id, 0, str(exc)) for job, exc in outcomes.not_taken]


def deliver(claimed: Sequence[Message], *, announced: bool = True) -> Outcomes:
    """Send claimed messages and write back what became of them. `announced=False`: their
    `sending` is told only for those sent this round (the rest go back to `queued` unseen)."""
    outcomes = Outcomes()
    t0 = time.monotonic()
    jobs = _jobs(claimed, outcomes)
    if jobs and pacing.pacing_enabled():
        jobs = _paced(jobs, outcomes)
        if outcomes.wait:
            # Those without a slot this round go back now, not after the sends: nothing waits
            # in `sending` (where a crash would leave it to the lease) that was never sent.
            _write_back(Outcomes(wait=outcomes.wait), announced=announced)
            outcomes.wait = []
    hooked = [job for job in jobs if Capability.ROUND_HOOKS in job.provider.capabilities]
    if (jobs and not announced) or hooked:
        with transaction.atomic():
            if not announced:
                lifecycle.messages_announce_sending([job.message for job in jobs])
            # Committed before the sends: what an adapter keeps must outlive a crash mid-send.
            refused = _prepare_sends(hooked)
        if refused:
            for job in jobs:
                decided = refused.get(job.message.id)
                if isinstance(decided, SendResult):  # the carrier has it already: not sent again
                    _record_sent(job, decided, outcomes)
                elif decided is not None:
                    _record_error(job, decided, outcomes)
            jobs = [job for job in jobs if job.message.id not in refused]
    outcomes.jobs = jobs
    _release_db_connection()
    concurrent = [job for job in jobs if async_sender(job.provider) is not None]
    one_by_one = [job for job in jobs if async_sender(job.provider) is None]
    if concurrent:
        run_on_loop(_send_all(concurrent, outcomes))
    for job in one_by_one:
        _send_in_thread(job, outcomes)
    t1 = time.monotonic()
    _write_back(outcomes)
    logger.debug(
        "Round of %d: prepared and sent in %.3f s, written back in %.3f s",
        len(claimed),
        t1 - t0,
        time.monotonic() - t1,
    )
    return outcomes


def _jobs(claimed: Sequence[Message], outcomes: Outcomes) -> list[_Job]:
    """Each claimed message with the adapter of its carrier account: the one it was routed to, else
    the account its sender number belongs to, else the workspace's primary one (numbers.routing's
    rule, read here for the whole round in two queries)."""
    workspace_ids = {m.workspace_id for m in claimed}
    accounts = {a.pk: a for a in ProviderAccount.objects.filter(workspace_id__in=workspace_ids)}
    primary = {a.workspace_id: a for a in accounts.values() if a.is_primary}
    senders = {m.from_number for m in claimed if m.from_number and not m.carrier_account_id}
    own_account = (
        {
            (ws, number): account_id
            for ws, number, account_id in PhoneNumber.objects.filter(
                workspace_id__in=workspace_ids, phone_number__in=senders, account__isnull=False
            ).values_list("workspace_id", "phone_number", "account_id")
        }
        if senders
        else {}
    )
    providers: dict = {}
    callback_bases: dict[tuple[str, int], str] = {}
    jobs = []
    for message in claimed:
        account_id = message.carrier_account_id or own_account.get(
            (message.workspace_id, message.from_number)
        )
        account = accounts.get(account_id) if account_id else primary.get(message.workspace_id)
        if account is None:
            outcomes.failed.append(
                Failed(
                    message.id, "provider_not_configured", "The workspace has no carrier account any more."
                )
            )
            continue
        if account.pk not in providers:
            providers[account.pk] = get_provider(account)
        base = callback_bases.get((message.workspace_id, account.pk))
        if base is None:
            base = callback_bases[(message.workspace_id, account.pk)] = _status_webhook(
                message.workspace_id, account
            )
        # Our own id rides along, so a callback that beats the stored provider_sid still finds it.
        jobs.append(_Job(message, providers[account.pk], with_query(base, message_id=message.id)))
    return jobs


def _by_provider(jobs: Iterable[_Job]) -> dict[int, list[_Job]]:
    groups: dict[int, list[_Job]] = defaultdict(list)
    for job in jobs:
        groups[id(job.provider)].append(job)
    return groups


def _prepare_sends(jobs: list[_Job]) -> dict[str, Exception | SendResult]:
    """Each hooked adapter's prepare_sends for its messages of the round: the messages not to
    send, with the error they end with, or the result of an earlier send the carrier took."""
    refused: dict[str, Exception | SendResult] = {}
    for group in _by_provider(jobs).values():
        refused.update(group[0].provider.prepare_sends([job.message for job in group]))
    return refused


def _record_sends(outcomes: Outcomes) -> None:
    """Each hooked adapter's record_sends, inside the round's write-back."""
    hooked = [job for job in outcomes.jobs if Capability.ROUND_HOOKS in job.provider.capabilities]
    if not hooked:
        return
    sent = {id(job): result for job, result in outcomes.results}
    for group in _by_provider(hooked).values():
        group[0].provider.record_sends(
            [(job.message, sent[id(job)]) for job in group if id(job) in sent],
            [job.message.id for job in group if id(job) not in sent],
        )


def _status_webhook(workspace_id: str, account: ProviderAccount) -> str:
    return status_webhook_url(workspace=Workspace(pk=workspace_id), account=account)


def status_callback_url(message: Message, account: ProviderAccount) -> str:
    """The status callback URL the carrier is given for this message."""
    return with_query(_status_webhook(message.workspace_id, account), message_id=message.id)


def _paced(jobs: list[_Job], outcomes: Outcomes) -> list[_Job]:
    """Give each message a slot of its sender within the horizon (one Redis trip per sender);
    the rest go back to `queued` until shortly before their sender would be free for them, one
    spacing apart, so that later rounds claim them as they come due rather than all at once."""
    by_sender: dict[pacing.PacedSender, list[_Job]] = defaultdict(list)
    for job in jobs:
        sender = pacing.sender_of(
            from_number=job.message.from_number, messaging_service_sid=job.message.messaging_service_sid
        )
        by_sender[sender].append(job)
    going = []
    for sender, group in by_sender.items():
        reserved_at = time.time()
        try:
            slots = pacing.reserve_slots(
                sender.key, sender.rate, len(group), settings.DISPATCH_PACING_HORIZON_SECONDS
            )
        except Exception as exc:  # Redis unreachable: the messages wait and are claimed again
            logger.warning("Pacing unavailable (%s); %d messages of %s wait", exc, len(group), sender.key)
            outcomes.wait += [WaitForSlot(job.message.id, reserved_at + 1.0) for job in group]
            continue
        for i, job in enumerate(group[: slots.count]):
            job.sender, job.go_at = sender, reserved_at + slots.first + i * slots.spacing
            going.append(job)
        # Due again when its slot would come within half the horizon: a round then takes it.
        due = reserved_at + slots.after - settings.DISPATCH_PACING_HORIZON_SECONDS / 2
        outcomes.wait += [
            WaitForSlot(job.message.id, max(reserved_at, due + i * slots.spacing))
            for i, job in enumerate(group[slots.count :])
        ]
    return going


def _release_db_connection() -> None:
    """With a connection pool, hand this thread's connection back while the sends are out."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _write_back(outcomes: Outcomes, *, announced: bool = True) -> None:
    """Every outcome of the round in one commit. If PostgreSQL is away, try again for a while;
    after that the messages stay `sending`, and the sweep finds them at the carrier after their
    lease (never sending them twice)."""
    failovers = _failovers(outcomes)
    for attempt in range(settings.DISPATCH_WRITE_ATTEMPTS):
        try:
            with transaction.atomic():
                lifecycle.messages_mark_sent(outcomes.sent)
                lifecycle.messages_fail(outcomes.failed)
                retried = lifecycle.messages_retry_later(outcomes.retry, wake=False)
                lifecycle.messages_wait_for_slot(outcomes.wait, announced=announced)
                lifecycle.messages_fail_over(failovers)
                _record_sends(outcomes)
            break
        except OperationalError:
            logger.warning("Could not write %d outcomes back (attempt %d)", _count(outcomes), attempt + 1)
            connection.close()
            time.sleep(1.0)
    else:
        logger.error(
            "Gave up writing %d outcomes back; the sweep recovers them after the lease", _count(outcomes)
        )
        return
    # Wake a runner when the first of them comes due (the runners only claim due messages).
    due = [m.next_attempt_at for m in retried if m.status == Status.QUEUED and m.next_attempt_at]
    due += [timezone.now()] if failovers else []
    due += [timezone.make_aware(datetime.fromtimestamp(w.not_before)) for w in outcomes.wait]
    if due and not settings.CELERY_TASK_ALWAYS_EAGER:  # eager runs retry at once (run_eagerly)
        wakeup.wake(countdown=max(0.0, (min(due) - timezone.now()).total_seconds()))


def _count(outcomes: Outcomes) -> int:
    return (
        len(outcomes.sent)
        + len(outcomes.failed)
        + len(outcomes.retry)
        + len(outcomes.wait)
        + len(outcomes.not_taken)
    )


# --- failover ------------------------------------------------------------------------------------


def _fails_over(job: _Job, exc: Exception, outcomes: Outcomes) -> bool:
    """A refusal the carrier definitely did not take the message with (ProviderError.not_taken),
    of a message whose route has a fallback account: kept for the fallback (written back with
    the round)."""
    if not (getattr(exc, "not_taken", False) and job.message.fallback_account_id):
        return False
    outcomes.not_taken.append((job, exc))
    return True


def _failovers(outcomes: Outcomes) -> list[FailOver]:
    """Each not-taken message onto its fallback account, from that account's sender; one whose
    fallback cannot take it (gone, disabled, no sender) takes the refusal's ordinary course."""
    from numbers.routing import failover_targets

    if not outcomes.not_taken:
        return []
    try:
        targets = failover_targets(job.message.fallback_account_id for job, _ in outcomes.not_taken)
    except OperationalError:  # PostgreSQL away: retried as usual, with the rest of the round
        connection.close()
        targets = {}
    items = []
    for job, exc in outcomes.not_taken:
        target = targets.get(job.message.fallback_account_id)
        if target is None:
            if isinstance(exc, TransientProviderError):
                outcomes.retry.append(_retry(job, exc))
            else:
                _record_error(job, exc, outcomes)
            continue
        account, from_number, service_sid = target
        reason = (
            f"{job.provider.name} did not take it ({exc}); failed over to carrier account "
            f"{account.uid} ({account.provider})."
        )
        items.append(
            FailOver(
                job.message.id,
                account.pk,
                from_number,
                service_sid,
                (getattr(exc, "code", None) or "not_taken")[:16],
                reason,
            )
        )
        log_message_outcome(job.message, f"Failed over to carrier account {account.uid}")
    return items


# --- sending -------------------------------------------------------------------------------------


async def _send_all(jobs: list[_Job], outcomes: Outcomes) -> None:
    by_sender: dict[object, list[_Job]] = defaultdict(list)
    for job in jobs:
        by_sender[job.sender.key if job.sender else None].append(job)
    await asyncio.gather(*(_send_group(group, outcomes) for group in by_sender.values()))


async def _send_group(group: list[_Job], outcomes: Outcomes) -> None:
    """One sender's messages, in slot order, each from its slot on. A sender the carrier allows no
    burst (about 1/s) takes each send's turn in the send's own step, right before its HTTP write,
    so that loop lag delays the send rather than crowding the next one; a faster sender takes the
    turns of all the sends whose slots have come together (one Redis trip), its burst absorbing
    the jitter."""
    sender = group[0].sender
    if sender is not None and pacing.tolerance(sender.rate) <= 0:
        sending = []
        for job in group:
            wait = job.go_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            sending.append(asyncio.create_task(_send_one(job, outcomes, take_turn=True)))
        await asyncio.gather(*sending)
        return
    sending: list[asyncio.Task] = []
    i = 0
    while i < len(group):
        wait = group[i].go_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        now = time.time()
        ready = 1
        while i + ready < len(group) and group[i + ready].go_at <= now:
            ready += 1
        go = ready
        if sender is not None:
            go, turn_wait = pacing.take_turns(sender.key, sender.rate, ready)
            if go == 0:
                if _far_behind(sender, turn_wait):
                    _wait_in_table(group[i:], sender, now + turn_wait, outcomes)
                    break
                await asyncio.sleep(turn_wait)
                continue
        sending += [asyncio.create_task(_send_one(job, outcomes)) for job in group[i : i + go]]
        i += go
    await asyncio.gather(*sending)


# Senders paced at up to this rate (messages/s) have their sends take the first free connection,
# ahead of faster senders' bursts: a paced sender keeps to its carrier's limit only if its sends
# reach the carrier within the pacing margin of their turns; an unpaced burst loses nothing by
# letting them by.
URGENT_RATE = 1000.0


def _far_behind(sender: pacing.PacedSender, wait: float) -> bool:
    return wait > max(settings.SEND_PACING_SLEEP_MAX_SECONDS, pacing.spacing(sender.rate))


def _wait_in_table(
    jobs: Sequence[_Job], sender: pacing.PacedSender, first: float, outcomes: Outcomes
) -> None:
    """The sender runs far behind (a send before ran very late): these wait in the table for
    their turns, one spacing apart, rather than hold the round."""
    step = pacing.spacing(sender.rate)
    outcomes.wait += [WaitForSlot(job.message.id, first + k * step) for k, job in enumerate(jobs)]


def _arguments(job: _Job) -> dict:
    message = job.message
    arguments = {
        "to": message.to_number,
        "from_number": message.from_number or None,
        "body": message.body,
        "media_urls": list(message.media_urls),
        "status_callback": job.callback,
        "messaging_service_sid": message.messaging_service_sid or None,
    }
    if Capability.ROUND_HOOKS in job.provider.capabilities:
        arguments["message_id"] = message.id  # what it keeps beside the message is by our id
    return arguments


async def _send_one(job: _Job, outcomes: Outcomes, *, take_turn: bool = False) -> None:
    send = async_sender(job.provider)
    if job.sender is not None and job.sender.rate <= URGENT_RATE:
        # Its turn says when it reaches the carrier: it must not then wait for a connection
        # behind another sender's burst (this task's context only).
        keepalive_http.urgent.set(True)
    for again in (False, True):
        if take_turn or again:
            asked = await _turn(job, outcomes)
            if asked is None:
                return
            keepalive_http.on_write.set(lambda sender=job.sender, asked=asked: _written(sender, asked))
        started = time.monotonic()
        try:
            result = await send(**_arguments(job))
        except NotSent as exc:
            # It never left: back as if unclaimed, no attempt counted (an SMPP bind that is down).
            metrics.observe_send(job.provider.name, started)
            outcomes.wait.append(
                WaitForSlot(job.message.id, time.time() + (exc.retry_after or 0.0), exc.message)
            )
            return
        except SendInDoubt as exc:
            # The carrier may have it: never sent again blindly. It stays `sending` (claimed),
            # and after the lease the sweep looks it up at the carrier before any second send.
            metrics.observe_send(job.provider.name, started)
            logger.warning(
                "Send of %s in doubt (%s); left to the carrier look-up after the lease",
                job.message.id,
                exc.message,
            )
            return
        except TransientProviderError as exc:
            metrics.observe_send(job.provider.name, started)
            if _fails_over(job, exc, outcomes):
                return
            retry_at = None if again or job.sender is None else pacing.retry_in_turn(job.sender, exc)
            if retry_at is None:
                outcomes.retry.append(_retry(job, exc))
                return
            # Refused for throughput at 1/s or below: once more at its sender's next turn.
            logger.info(
                "Carrier refused %s for throughput; once more at its sender's next turn", job.message.id
            )
            await asyncio.sleep(max(0.0, retry_at - time.time()))
            continue
        except Exception as exc:
            metrics.observe_send(job.provider.name, started)
            if not _fails_over(job, exc, outcomes):
                _record_error(job, exc, outcomes)
            return
        metrics.observe_send(job.provider.name, started)
        _record_sent(job, result, outcomes)
        return


async def _turn(job: _Job, outcomes: Outcomes) -> float | None:
    """Wait for the sender's turn; answers when (epoch seconds) the turn was asked for, or None
    when the sender runs so far behind that the message goes back to the table instead. No await
    between the turn granted and the caller's HTTP write."""
    sender = job.sender
    assert sender is not None
    while True:
        asked = time.time()
        go, wait = pacing.take_turns(sender.key, sender.rate, 1)
        if go:
            return asked
        if _far_behind(sender, wait):
            _wait_in_table([job], sender, time.time() + wait, outcomes)
            return None
        await asyncio.sleep(wait)


# A turn's answer from Redis and the write after it take about this long; a send that left later
# than that after asking for its turn pushes its sender's next turn back by the difference.
WRITE_SLACK_SECONDS = 0.002


def _written(sender: pacing.PacedSender, asked: float) -> None:
    late = time.time() - asked - WRITE_SLACK_SECONDS
    if late > 0:
        try:
            pacing.push_back(sender.key, sender.rate, late)
        except Exception as exc:  # Redis away: the margin is all there is
            logger.warning("Could not push %s's next turn back by %.3f s: %s", sender.key, late, exc)


def _send_in_thread(job: _Job, outcomes: Outcomes) -> None:
    """A carrier without an async send (the simulator, which does no I/O): here, one at a time."""
    if job.go_at:
        pacing.sleep_until(job.go_at)
        if job.sender is not None:
            while True:
                go, wait = pacing.take_turns(job.sender.key, job.sender.rate, 1)
                if go:
                    break
                time.sleep(wait)
    started = time.monotonic()
    try:
        result = job.provider.send(**_arguments(job))
    except TransientProviderError as exc:
        metrics.observe_send(job.provider.name, started)
        if not _fails_over(job, exc, outcomes):
            outcomes.retry.append(_retry(job, exc))
    except Exception as exc:
        metrics.observe_send(job.provider.name, started)
        if not _fails_over(job, exc, outcomes):
            _record_error(job, exc, outcomes)
    else:
        metrics.observe_send(job.provider.name, started)
        _record_sent(job, result, outcomes)


def _retry(job: _Job, exc: TransientProviderError) -> RetryLater:
    return RetryLater(job.message.id, job.message.attempts, exc.message, exc.code, exc.retry_after)


def _record_sent(job: _Job, result: SendResult, outcomes: Outcomes) -> None:
    outcomes.sent.append(Sent(job.message.id, result.provider_sid))
    outcomes.results.append((job, result))
    log_message_outcome(job.message, "Handed to the carrier", carrier_sid=result.provider_sid)


def _record_error(job: _Job, exc: Exception, outcomes: Outcomes) -> None:
    if isinstance(exc, PermanentProviderError):
        outcomes.failed.append(Failed(job.message.id, exc.code or "carrier_rejected", exc.message))
    else:  # an adapter bug or an unexpected library error: retried, bounded by the attempts
        logger.error("Unexpected error sending %s", job.message.id, exc_info=exc)
        reason = str(exc) or type(exc).__name__
        outcomes.retry.append(RetryLater(job.message.id, job.message.attempts, reason))


# --- runners -------------------------------------------------------------------------------------


_here_lock = threading.Lock()
_here = 0  # runners in this process


def _runner_here() -> bool:
    global _here
    with _here_lock:
        if _here >= settings.DISPATCH_RUNNERS_PER_PROCESS:
            return False
        _here += 1
        return True


def _runner_gone() -> None:
    global _here
    with _here_lock:
        _here -= 1


def run_rounds(
    *, scope: Scope | None = None, seconds: float | None = None, runners: int | None = None, hops: int = 0
) -> int:
    """Rounds while messages are due, for up to `seconds`, as one of at most `runners` runners at
    a time (a Redis lease each; without Redis, any number) and of DISPATCH_RUNNERS_PER_PROCESS in
    this process: a wake-up that finds this process full is passed on, up to DISPATCH_WAKE_HOPS
    times, so that the runners spread over the worker processes (and their cores). A full round
    wakes one more runner; when nothing is due, a wake-up is set for the next message to come
    due. Answers how many messages it claimed."""
    scope = scope or celery_scope()
    limit = settings.DISPATCH_BATCH_SIZE
    wakeup.started()
    token = wakeup.runner_lease(runners or settings.DISPATCH_RUNNERS)
    if token is None:
        return 0  # enough runners are at work; they claim what this wake-up was for
    if not _runner_here():
        wakeup.release_runner_lease(token)
        if hops < settings.DISPATCH_WAKE_HOPS:
            wakeup.wake(hops=hops + 1)
        return 0
    try:
        return _run_rounds(scope, limit, token, seconds)
    finally:
        _runner_gone()


def _run_rounds(scope: Scope, limit: int, token: str, seconds: float | None) -> int:
    claimed = 0
    deadline = time.monotonic() + (seconds or settings.DISPATCH_RUN_SECONDS)
    try:
        while time.monotonic() < deadline:
            n = dispatch_round(limit=limit, scope=scope)
            claimed += n
            wakeup.renew_runner_lease(token)
            if n >= limit:
                wakeup.wake()  # more are due: another runner may help
                continue
            if n:
                continue
            next_due = next_due_in(scope)
            if next_due is None:
                break
            if next_due > settings.DISPATCH_IDLE_SECONDS:
                wakeup.wake(countdown=next_due)
                break
            time.sleep(max(0.01, next_due))
        else:
            wakeup.wake()  # out of time with work left: a fresh task carries on
    finally:
        wakeup.release_runner_lease(token)
    return claimed


def next_due_in(scope: Scope) -> float | None:
    """Seconds until the next queued message comes due (0 if one is due now); None if none is queued."""
    first = (
        _scoped(Message.objects.filter(status=Status.QUEUED), scope)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        exists = _scoped(Message.objects.filter(status=Status.QUEUED), scope).exists()
        return 0.0 if exists else None
    return max(0.0, (first - timezone.now()).total_seconds())


def _scoped(queryset, scope: Scope):
    if scope.account_ids is not None:  # of these accounts' workspaces: close enough for a wait
        queryset = queryset.filter(workspace__carrier_accounts__id__in=scope.account_ids)
    if scope.providers is not None:
        queryset = queryset.filter(workspace__carrier_accounts__provider__in=scope.providers)
    if scope.exclude_providers:
        queryset = queryset.exclude(workspace__carrier_accounts__provider__in=scope.exclude_providers)
    return queryset


def serve_rounds(
    *,
    scope: Callable[[], Scope | None],
    stop: threading.Event,
    limit: int,
    idle_seconds: float,
    busy: threading.Event | None = None,
    helper: bool = False,
) -> int:
    """Rounds for a process that sends for carrier accounts of its own (the SMPP bind process),
    from one of its threads, until `stop` is set: `scope()` says which messages to claim now (None:
    none, e.g. no bind is up); an empty round waits `idle_seconds`. No Celery runner lease or
    wake-up: the process polls the table, its queue of record. Several threads share `busy`: a
    `helper` runs rounds only while a full round has set it (one thread polls an idle table, not
    all of them). Answers how many it claimed."""
    claimed = 0
    try:
        while not stop.is_set():
            if helper and busy is not None and not busy.wait(idle_seconds):
                continue
            current = scope()
            if current is None:
                stop.wait(idle_seconds)
                continue
            try:
                n, outcomes = _round(limit, current)
                if outcomes is not None and outcomes.not_taken and settings.CELERY_TASK_ALWAYS_EAGER:
                    # No broker: nobody else claims what went to a fallback account of another
                    # carrier, so it is sent now (the rest are not Celery's and stay).
                    wakeup.wake(message_ids=[job.message.id for job, _ in outcomes.not_taken])
            except Exception:  # PostgreSQL away, a bug: the messages stay in the table
                logger.exception("A delivery round failed; trying again")
                connection.close()
                stop.wait(1.0)
                continue
            claimed += n
            if busy is not None:
                if n >= limit:
                    busy.set()  # more are due: the helpers join in
                elif not helper:
                    busy.clear()
            if not n:
                stop.wait(idle_seconds)
    finally:
        connection.close()
    return claimed


def run_eagerly(message_ids: Iterable[str] | None) -> None:
    """Without a broker (the embedded default, tests): deliver now, in this thread, and retry at
    once as Celery's eager mode runs a countdown task at once, up to SEND_MAX_ATTEMPTS."""
    ids = list(message_ids or [])
    if not ids:
        for _ in range(settings.SEND_MAX_ATTEMPTS):
            if not dispatch_round():
                return
        return
    for _ in range(settings.SEND_MAX_ATTEMPTS):
        retried = dispatch_messages(ids)
        if not retried:
            return
        ids = [r.message_id for r in retried]
