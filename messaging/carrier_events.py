"""Carrier webhooks and simulator events: stored raw first, then applied by workers in batches.

A carrier's retry of the same event (same MessageSid and status) hits the unique dedupe key and
changes nothing. Storing an event wakes a runner (messaging.wakeup: one wake-up for however
many events arrive while one is pending or at work); the runner applies due events a batch at a
time, pausing a moment after a short batch so that the next gathers more, until none come.
"""

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from numbers.models import PhoneNumber
from numbers.providers import adapter_class
from numbers.providers.base import InboundMessage, StatusUpdate
from numbers.routing import primary_account
from workspaces.models import Workspace

from . import events, wakeup
from .contacts import contacts_ensure
from .conversations import conversation_file_inbound, conversation_for
from .enqueue import enqueue_carrier_events_apply
from .inbound_filing import inbound_file_many
from .insights.counting import count_inbound
from .lifecycle import StatusReport, json_rows, messages_apply_statuses
from .models import (
    CarrierEvent,
    CarrierEventKind,
    ConsentAction,
    ConsentEvent,
    Direction,
    Message,
    MessageEvent,
    OptOut,
    Status,
)
from .segments import count_segments

logger = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_KEYWORDS = {"START", "YES", "UNSTOP"}
HELP_KEYWORDS = {"HELP", "INFO"}


def carrier_event_process(*, event_id: str) -> None:
    """Apply one stored carrier event, once (a task enqueued for one event)."""
    carrier_events_apply(event_ids=[event_id])


def carrier_events_apply_pending(*, workspace_id: str | None = None, budget_seconds: float = 10.0) -> int:
    """Apply stored events batch after batch until none are due (or the time budget is spent:
    then a fresh task carries on, so that one task does not hold a worker for long). The sweep's
    per-workspace tasks, and every wake-up when tasks run eagerly."""
    started = time.monotonic()
    applied = 0
    while True:
        count = carrier_events_apply(workspace_id=workspace_id)
        applied += count
        if count < settings.CARRIER_EVENT_BATCH_SIZE:
            return applied
        if time.monotonic() - started > budget_seconds:
            enqueue_carrier_events_apply(workspace_id=workspace_id, coalesce=False)
            return applied


_here_lock = threading.Lock()
_here = 0  # runners in this process


def _runner_here() -> bool:
    global _here
    with _here_lock:
        if _here >= settings.CARRIER_EVENT_RUNNERS_PER_PROCESS:
            return False
        _here += 1
        return True


def _runner_gone() -> None:
    global _here
    with _here_lock:
        _here -= 1


def carrier_events_run(*, hops: int = 0, seconds: float | None = None) -> int:
    """A runner (one of at most CARRIER_EVENT_RUNNERS, a Redis lease each, and of
    CARRIER_EVENT_RUNNERS_PER_PROCESS here; a wake-up finding this process full is passed on):
    applies stored events in batches while they come. A batch short of the batch size is followed
    by a pause of CARRIER_EVENT_LINGER_SECONDS, so that at any rate of callbacks a batch gathers
    that many seconds' worth (instead of one or two events, each costing a transaction, its
    statements and a publish); a full batch wakes one more runner. It stops after
    CARRIER_EVENT_IDLE_SECONDS without events, or after `seconds` (a fresh task carries on).
    Answers how many events it took."""
    token = wakeup.runner_lease(
        settings.CARRIER_EVENT_RUNNERS,
        key=wakeup.EVENTS_RUNNERS_KEY,
        seconds=settings.CARRIER_EVENT_RUNNER_LEASE_SECONDS,
    )
    if token is None:
        return 0  # enough runners are at work; they take these events from the table
    if not _runner_here():
        wakeup.release_runner_lease(token, key=wakeup.EVENTS_RUNNERS_KEY)
        if hops < settings.DISPATCH_WAKE_HOPS:
            wakeup.wake_events(extra=True, hops=hops + 1)
        return 0
    try:
        return _run(token, seconds or settings.CARRIER_EVENT_RUN_SECONDS)
    finally:
        _runner_gone()


def _run(token: str, seconds: float) -> int:
    limit = settings.CARRIER_EVENT_BATCH_SIZE
    now = time.monotonic()
    deadline, idle_until = now + seconds, now + settings.CARRIER_EVENT_IDLE_SECONDS
    taken, out_of_time = 0, True
    try:
        while time.monotonic() < deadline:
            wakeup.events_runner_alive(token)
            count = _apply_or_wait()
            taken += count
            if count >= limit:
                wakeup.wake_events(extra=True)  # a backlog: another runner may help
                continue
            if count:
                idle_until = time.monotonic() + settings.CARRIER_EVENT_IDLE_SECONDS
            elif time.monotonic() >= idle_until:
                out_of_time = False
                break
            time.sleep(settings.CARRIER_EVENT_LINGER_SECONDS)
    finally:
        wakeup.events_runner_done(token)
    # An event stored after the last batch whose wake-up found the pending key still held: from
    # here on stored events wake a new task, so one more look takes what came in between.
    last = _apply_or_wait()
    if last or out_of_time:
        wakeup.wake_events()
    return taken + last


def _apply_or_wait() -> int:
    """A batch; with PostgreSQL away, none (after a pause, on a fresh connection next time)."""
    try:
        return carrier_events_apply()
    except DatabaseError:
        logger.warning("Could not apply carrier events; trying again", exc_info=True)
        connection.close()
        time.sleep(1.0)
        return 0


def carrier_events_apply(
    *, workspace_id: str | None = None, event_ids: Sequence[str] | None = None, limit: int | None = None
) -> int:
    """Apply a batch of stored, unprocessed carrier events that are due, oldest first: taken in
    one statement (rows another worker holds are skipped), statuses applied through the
    lifecycle in one go (in status order, never backwards), inbound messages filed into their
    conversations, and what changed published once per workspace.

    An event that cannot be read (ValueError, LookupError) or that the lifecycle refuses is
    processed with its error: it never will apply. An unexpected error rolls the batch back; its
    events are then applied one by one, and the failing ones are tried again after a backoff,
    and dead-lettered after CARRIER_EVENT_MAX_ATTEMPTS. Answers how many events it took."""
    now = timezone.now()
    batch: list[CarrierEvent] = []
    try:
        # The batch applied as a whole, without a savepoint (two round trips) around it.
        with transaction.atomic():
            batch = _take_processed(now, workspace_id, event_ids, limit)
            if not batch:
                return 0
            _write_results(batch, _apply_batch(batch), now)
        return len(batch)
    except Exception:
        if not batch:
            raise  # not even taken (PostgreSQL away): the caller waits and tries again
        logger.warning(
            "A batch of %d carrier events failed to apply; applying them one by one",
            len(batch),
            exc_info=True,
        )
    # The same events again (those another worker has not taken meanwhile), each on its own.
    with transaction.atomic():
        batch = _take(now, None, [event.id for event in batch], None)
        if not batch:
            return 0
        results = {}
        for event in batch:
            try:
                with transaction.atomic():
                    results.update(_apply_batch([event]))
            except Exception as exc:
                _attempt_failed(event, exc, now)
        _mark_processed(_done(batch, results, now), now)
    return len(batch)


def _take(
    now, workspace_id: str | None, event_ids: Sequence[str] | None, limit: int | None
) -> list[CarrierEvent]:
    """Due events, oldest first, locked (rows another worker holds are skipped); those of inbound
    messages with their workspace (statuses need only its id)."""
    pending = _due(CarrierEvent.objects.all(), now)
    if workspace_id is not None:
        pending = pending.filter(workspace_id=workspace_id)
    if event_ids is not None:
        pending = pending.filter(pk__in=event_ids)
    batch = list(
        pending.select_for_update(skip_locked=True).order_by("received_at")[
            : limit or settings.CARRIER_EVENT_BATCH_SIZE
        ]
    )
    _with_workspaces(batch)
    return batch


_EVENTS = CarrierEvent._meta.db_table
_EVENT_COLUMNS = ", ".join(cast(str, f.column) for f in CarrierEvent._meta.concrete_fields)


def _take_processed(
    now, workspace_id: str | None, event_ids: Sequence[str] | None, limit: int | None
) -> list[CarrierEvent]:
    """Due events, oldest first, taken and marked processed in one statement (rows another worker
    holds are skipped): the batch's transaction applies them, and what it finds different (an
    error, the message) is written after; a rollback leaves them due. Those of inbound messages
    come with their workspace (statuses need only its id)."""
    where = "processed_at IS NULL AND dead_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
    ts = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = [ts]
    if workspace_id is not None:
        where += " AND workspace_id = %s"
        params.append(workspace_id)
    if event_ids is not None:
        if not event_ids:
            return []
        where += f" AND id IN ({', '.join(['%s'] * len(event_ids))})"
        params += list(event_ids)
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"WITH picked(p_id) AS MATERIALIZED (SELECT id FROM {_EVENTS} WHERE {where} "  # noqa: S608
        f"ORDER BY received_at LIMIT %s{lock}) UPDATE {_EVENTS} SET processed_at = %s FROM picked "
        f"WHERE {_EVENTS}.id = picked.p_id RETURNING {_EVENT_COLUMNS}"
    )
    params += [limit or settings.CARRIER_EVENT_BATCH_SIZE, ts]
    batch = sorted(CarrierEvent.objects.raw(sql, params), key=lambda e: (e.received_at, e.id))
    _with_workspaces(batch)
    return batch


def _write_results(batch: Sequence[CarrierEvent], results: dict[str, "Result"], now) -> None:
    """After the batch applied (its events marked processed as they were taken): the error and
    the message of each event whose result differs from what it holds; an event without a
    result (none expected) is left due again."""
    changed, unapplied = [], []
    for event in batch:
        if event.id not in results:
            unapplied.append(event.id)
        elif results[event.id] != (event.error, event.message_id):
            event.error, event.message_id = results[event.id]
            changed.append(event)
    _mark_processed(changed, now)
    if unapplied:
        CarrierEvent.objects.filter(pk__in=unapplied).update(processed_at=None)


def _with_workspaces(batch: Sequence[CarrierEvent]) -> None:
    inbound = {e.workspace_id for e in batch if e.kind != CarrierEventKind.STATUS}
    if inbound:
        workspaces = Workspace.objects.in_bulk(inbound)
        for event in batch:
            if event.workspace_id in workspaces:
                event.workspace = workspaces[event.workspace_id]


def _done(batch: Sequence[CarrierEvent], results: dict[str, "Result"], now) -> list[CarrierEvent]:
    done = []
    for event in batch:
        if event.id in results:
            event.error, event.message_id = results[event.id]
            event.processed_at = now
            done.append(event)
    return done


def _mark_processed(events_done: Sequence[CarrierEvent], now) -> None:
    """One UPDATE from a VALUES list (the ORM's bulk_update builds a CASE per row and field)."""
    if not events_done:
        return
    table = CarrierEvent._meta.db_table
    rows = [(event.id, event.error, event.message_id) for event in events_done]
    if connection.vendor == "postgresql":
        source, params = json_rows(("v_id", "v_error", "v_message"), ("text",) * 3, rows)
        source = f"WITH v AS ({source})"
    else:
        source = (
            "WITH v(v_id, v_error, v_message) AS (VALUES "
            + ", ".join(["(CAST(%s AS text), CAST(%s AS text), CAST(%s AS text))"] * len(rows))
            + ")"
        )
        params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(
            f"{source} UPDATE {table} SET processed_at = %s, error = v.v_error, "  # noqa: S608
            f"message_id = v.v_message FROM v WHERE {table}.id = v.v_id",
            [*params, connection.ops.adapt_datetimefield_value(now)],
        )


def _attempt_failed(event: CarrierEvent, exc: Exception, now) -> None:
    event.attempts += 1
    event.error = f"{type(exc).__name__}: {exc}"[:1000]
    if event.attempts >= settings.CARRIER_EVENT_MAX_ATTEMPTS:
        event.dead_at = now
        logger.error(
            "Carrier event %s dead-lettered after %d attempts: %s", event.id, event.attempts, event.error
        )
    else:
        delay = min(
            settings.CARRIER_EVENT_RETRY_MAX_SECONDS,
            settings.CARRIER_EVENT_RETRY_BASE_SECONDS * 2 ** (event.attempts - 1),
        )
        event.next_attempt_at = now + timedelta(seconds=delay)
        logger.warning(
            "Carrier event %s failed to apply (attempt %d, again in %.0fs): %s",
            event.id,
            event.attempts,
            delay,
            event.error,
        )
    event.save(update_fields=["attempts", "error", "dead_at", "next_attempt_at"])


def carrier_events_retry(*, event_ids: Sequence[str]) -> int:
    """Have dead-lettered (or backing off) events applied again from scratch (an operator's
    decision, once the cause is fixed); answers how many."""
    with transaction.atomic():
        events_again = CarrierEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True)
        workspace_ids = set(events_again.values_list("workspace_id", flat=True))
        count = events_again.update(attempts=0, dead_at=None, next_attempt_at=None, error="")
        transaction.on_commit(
            # The list only runs the calls: on_commit discards what its callback returns.
            lambda: [enqueue_carrier_events_apply(workspace_id=ws, coalesce=False) for ws in workspace_ids]  # type: ignore[func-returns-value]
        )
    return count


# What an event's apply answers: (the error, or "" when it applied; the message it concerns).
Result = tuple[str, str | None]


def _apply_batch(batch: list[CarrierEvent]) -> dict[str, Result]:
    results: dict[str, Result] = {}
    statuses: list[tuple[CarrierEvent, StatusUpdate]] = []
    created: dict[str, list[Message]] = defaultdict(list)
    # Inbound messages are filed together on PostgreSQL (messaging.inbound_filing), in runs
    # between consent keywords, which are filed one by one with their opt-out: the order of the
    # batch is kept. Other databases file each on its own.
    inbound: list[tuple[CarrierEvent, InboundMessage]] = []
    together = connection.vendor == "postgresql"

    def file_inbound() -> None:
        for event_id, filed in inbound_file_many(inbound).items():
            if isinstance(filed, LookupError):
                logger.warning("Carrier event %s not applied: %s", event_id, filed)
                results[event_id] = (str(filed)[:1000], None)
            else:
                results[event_id] = ("", filed.id if filed else None)
                if filed is not None:
                    created[filed.workspace_id].append(filed)
        inbound.clear()

    for event in batch:
        try:
            provider = _parser(event)
            if event.kind == CarrierEventKind.STATUS:
                statuses.append((event, provider.parse_status(event.params)))
                continue
            parsed = provider.parse_inbound(event.params)
            if together and not _is_consent_keyword(parsed.body):
                inbound.append((event, parsed))
                continue
            file_inbound()
            message = _receive(event, parsed)
            results[event.id] = ("", message.id if message else None)
            if message is not None:
                created[event.workspace_id].append(message)
        except (ValueError, LookupError) as exc:
            logger.warning("Carrier event %s not applied: %s", event.id, exc)
            results[event.id] = (str(exc)[:1000], event.message_id)
    file_inbound()
    results.update(_apply_statuses(statuses))
    count_inbound([m for filed in created.values() for m in filed], opt_out_keywords=OPT_OUT_KEYWORDS)
    for workspace_id, messages in created.items():
        events.messages_created(messages, workspace_id)
    return results


def _apply_statuses(statuses: list[tuple[CarrierEvent, StatusUpdate]]) -> dict[str, Result]:
    """The batch's status events, through the lifecycle at once."""
    results: dict[str, Result] = {}
    # Our own id rides along on the callback (StatusUpdate.message_id): it is taken only within the
    # event's workspace.
    named = [
        update.message_id
        for event, update in statuses
        if event.message_id is None and getattr(update, "message_id", None)
    ]
    ours = (
        {(ws, pk) for pk, ws in Message.objects.filter(pk__in=named).values_list("pk", "workspace_id")}
        if named
        else set()
    )
    unknown = [
        update.provider_sid for event, update in statuses if event.message_id is None and update.provider_sid
    ]
    by_sid = (
        {
            (ws, sid): pk
            for sid, ws, pk in Message.objects.filter(provider_sid__in=unknown).values_list(
                "provider_sid", "workspace_id", "pk"
            )
        }
        if unknown
        else {}
    )
    reports, reported = [], []
    for event, update in statuses:
        message_id = event.message_id
        if message_id is None and (event.workspace_id, getattr(update, "message_id", None)) in ours:
            message_id = update.message_id
        if message_id is None:
            message_id = by_sid.get((event.workspace_id, update.provider_sid))
        if message_id is None:
            results[event.id] = (f"No message with sid {update.provider_sid}.", None)
            continue
        reports.append(
            StatusReport(
                message_id,
                update.status,
                update.error_code,
                update.error_message,
                update.provider_sid or None,
            )
        )
        reported.append(event)
    outcome = messages_apply_statuses(reports)
    for index, (event, report) in enumerate(zip(reported, reports, strict=True)):
        refusal = outcome.refused.get(index, "")
        if refusal:
            logger.warning("Carrier event %s refused: %s", event.id, refusal)
        results[event.id] = (refusal, report.message_id)
    return results


def _parser(event: CarrierEvent):
    """The adapter that reads this event's stored payload (its parse functions need no account)."""
    try:
        return adapter_class(event.provider)
    except KeyError:
        raise LookupError(f"No carrier adapter named {event.provider!r}.") from None


def find_our_side(workspace: Workspace, inbound: InboundMessage) -> str | None:
    """Which of our senders an inbound message reached: a number of the workspace, or the
    workspace's Messaging Service when the number sits in its pool."""
    account = primary_account(workspace=workspace)
    if (
        account
        and account.messaging_service_sid
        and inbound.messaging_service_sid == account.messaging_service_sid
    ):
        return account.messaging_service_sid
    if PhoneNumber.objects.for_workspace(workspace).filter(phone_number=inbound.to_number).exists():
        return inbound.to_number
    return None


def _receive(event: CarrierEvent, inbound: InboundMessage) -> Message | None:
    """File an inbound message into its conversation (and consent keywords); None if the same
    message reached us before."""
    workspace = event.workspace
    if Message.objects.filter(provider_sid=inbound.provider_sid).exists():
        return None
    our_side = find_our_side(workspace, inbound)
    if our_side is None:
        raise LookupError(f"{inbound.to_number} is not a number of this workspace.")
    conversation = conversation_for(workspace=workspace, our_side=our_side, contact=inbound.from_number)
    segments = count_segments(inbound.body)
    message = Message.objects.create(
        workspace=workspace,
        direction=Direction.INBOUND,
        status=Status.RECEIVED,
        to_number=inbound.to_number,
        from_number=inbound.from_number,
        messaging_service_sid=inbound.messaging_service_sid,
        body=inbound.body,
        media_urls=inbound.media_urls,
        num_segments=max(1, segments.num_segments),
        encoding=segments.encoding,
        provider_sid=inbound.provider_sid,
        conversation=conversation,
    )
    MessageEvent.objects.create(message=message, status=Status.RECEIVED, source="carrier")
    conversation_file_inbound(conversation=conversation, message=message)
    contacts_ensure(workspace_id=workspace.id, phone_numbers=[inbound.from_number])
    _apply_consent_keyword(workspace, message)
    return message


def _is_consent_keyword(body: str) -> bool:
    keyword = body.strip().upper()
    return keyword in OPT_OUT_KEYWORDS or keyword in OPT_IN_KEYWORDS or keyword in HELP_KEYWORDS


def _apply_consent_keyword(workspace: Workspace, message: Message) -> None:
    keyword = message.body.strip().upper()
    contact = message.from_number
    if keyword in OPT_OUT_KEYWORDS:
        OptOut.objects.get_or_create(workspace=workspace, phone_number=contact, defaults={"keyword": keyword})
        action = ConsentAction.OPT_OUT
    elif keyword in OPT_IN_KEYWORDS:
        OptOut.objects.for_workspace(workspace).filter(phone_number=contact).delete()
        action = ConsentAction.OPT_IN
    elif keyword in HELP_KEYWORDS:
        action = ConsentAction.HELP
    else:
        return
    ConsentEvent.objects.create(
        workspace=workspace, phone_number=contact, action=action, keyword=keyword, message=message
    )


def sweep_carrier_events(*, older_than_seconds: int = 60) -> int:
    """Have stored events that no worker applied (a lost wake-up) applied, fairly: one task per
    workspace with due events, each taking its oldest first up to the batch size, so that one
    workspace's backlog (or poison, which backs off) cannot hold back another's recovery."""
    now = timezone.now()
    workspace_ids = list(
        _due(CarrierEvent.objects.filter(received_at__lt=now - timedelta(seconds=older_than_seconds)), now)
        .values_list("workspace_id", flat=True)
        .distinct()
        .order_by()
    )
    for workspace_id in workspace_ids:
        enqueue_carrier_events_apply(workspace_id=workspace_id, coalesce=False)
    return len(workspace_ids)


def carrier_events_tick(*, older_than_seconds: float | None = None) -> bool:
    """Beat's tick: wake a runner when a stored event is due that none took (a runner killed
    while it held the wake-up, PostgreSQL away when the last one looked); answers whether."""
    now = timezone.now()
    stale = now - timedelta(
        seconds=older_than_seconds if older_than_seconds is not None else settings.CARRIER_EVENT_TICK_SECONDS
    )
    left = _due(CarrierEvent.objects.all(), now).filter(received_at__lt=stale).exists()
    if left:
        wakeup.wake_events()
    return left


def _due(events, now):
    """The events a runner takes: not applied, not dead-lettered, and not backing off."""
    return events.filter(processed_at__isnull=True, dead_at__isnull=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def on_simulated_carrier_event(sender, *, workspace_id: str, kind: str, payload: dict, **kwargs) -> None:
    """The simulator carrier's events take the same path as a real carrier's webhooks."""
    from .carrier_intake import carrier_event_store, intake_event

    if not Workspace.objects.filter(pk=workspace_id).exists():
        return
    try:
        event = intake_event(workspace_id=workspace_id, provider=str(sender), kind=kind, payload=payload)
    except ValueError as exc:
        logger.warning("Unreadable %s event for %s: %s", sender, workspace_id, exc)
        return
    carrier_event_store(event)
