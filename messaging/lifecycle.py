"""Every status change of a message, for one message or many: the one module that writes them.

Each function takes a list (one item for the per-message paths) and, in one transaction, makes
the guarded update in one statement (a status never goes backwards; a message that has moved on
is left alone and not returned), writes the event rows in one multi-row INSERT, and after commit
publishes the changed messages once per workspace (messaging.events), enqueues the status
callbacks of those that have one and, where a message goes back to `queued`, wakes a worker for
it (skip that with `wake=False` when the caller's own loop claims due messages from the table).

Outbound delivery (what a batch delivery engine calls; plain values in, messages out):

    messages_claim_due(limit=n)              queued and due → sending, oldest first, one
                                             `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
                                             LOCKED LIMIT n) RETURNING …`; the attempt is counted
    messages_claim(message_ids=[…])          the same for given ids (the per-message task)
    messages_mark_sent([Sent(id, sid)])      sending/queued → sent with the carrier's sid
    messages_fail([Failed(id, code, reason)])  → failed with the carrier's code (not from a final
                                             status)
    messages_retry_later([RetryLater(id, attempts, reason, code, retry_after)])
                                             sending → queued after a backoff (retry_delay), or
                                             failed once `attempts` reached SEND_MAX_ATTEMPTS
    messages_wait_for_slot([WaitForSlot(id, not_before)])
                                             sending → queued until the pacing slot (epoch
                                             seconds); the attempt is not counted
    messages_fail_over([FailOver(id, account_id, from_number, service_sid, code, reason)])
                                             sending → queued at once on its fallback account,
                                             from that account's sender (the first account
                                             definitely did not take it); once per message

Carrier and operator side:

    messages_apply_statuses([StatusReport(id, status, …)])
                                             carrier callbacks and reconciliation: deduplicated,
                                             in status order, never backwards; refuses a report
                                             whose sid differs from the one the message holds (or
                                             that another message holds) and any report on a
                                             message never handed to the carrier (`scheduled`)
    messages_cancel / messages_requeue       operator, API and broadcast actions (scheduled, or
                                             queued too, → canceled; failed/undelivered → queued
                                             again)
    messages_expire_unsent(…)                sweep: unsent past their validity → failed
    messages_release_scheduled(now=…)        sweep: due scheduled → queued
    messages_requeue_abandoned([(id, claimed_at)])
                                             sweep: a dead worker's claim → queued, after the
                                             carrier look-up found nothing (see sweeps.py)

Message creation (the accept path) stays in sending.py.
"""

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from messaging_platform.errors import DomainError

from . import events
from .enqueue import enqueue_send, enqueue_status_callback
from .insights.counting import count_events
from .lifecycle_sql import (
    _ACCOUNTS,
    _COLUMNS,
    _MESSAGE_ACCOUNT,
    _TABLE,
    _final_list,
    _in_list,
    _messages_of,
    _param,
    _returning,
    _update_from_values,
    _update_picked,
)
from .lifecycle_sql import (
    json_rows as json_rows,  # re-exported: the carrier events and the broadcast store import it here
)
from .models import FINAL_STATUSES, Message, MessageEvent, Status

if TYPE_CHECKING:
    from numbers.providers.base import ProviderError

logger = logging.getLogger(__name__)

# Order of progress: a status never moves to one of lower or equal rank.
STATUS_RANK: dict[str, int] = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.CANCELED: 4,
    Status.RECEIVED: 4,
}


@dataclass(frozen=True)
class Sent:
    message_id: str
    provider_sid: str


@dataclass(frozen=True)
class Failed:
    message_id: str
    code: str
    reason: str


@dataclass(frozen=True)
class RetryLater:
    """A transient refusal. `attempts`: the message's attempts so far (as claimed)."""

    message_id: str
    attempts: int
    reason: str
    code: str | None = None
    retry_after: float | None = None  # what the carrier asked for, in seconds


WAITING_FOR_TURN = "Waiting for the sender's turn."


@dataclass(frozen=True)
class WaitForSlot:
    message_id: str
    not_before: float  # epoch seconds
    reason: str = WAITING_FOR_TURN


@dataclass(frozen=True)
class FailOver:
    """The carrier account definitely did not take the message: its fallback account sends it,
    from `from_number` (or the Messaging Service `messaging_service_sid`)."""

    message_id: str
    account_id: int  # the fallback account
    from_number: str
    messaging_service_sid: str
    code: str | None
    reason: str  # why the first account did not take it, and where it goes now


@dataclass(frozen=True)
class StatusReport:
    """A status the carrier reported (callback, receipt or look-up), in platform words."""

    message_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    provider_sid: str | None = None


@dataclass
class StatusOutcome:
    """What messages_apply_statuses did: the messages it moved, and the reports it refused
    (index in the input → why), which will never apply."""

    moved: list[Message] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


_EVENTS = MessageEvent._meta.db_table
_EVENT_ROWS_PER_INSERT = 1000


def _events(rows: Sequence[tuple[Message, dict[str, Any]]]) -> None:
    """The history rows of a change, in multi-row INSERTs built as SQL (no model instances), and
    the dashboard's counts of them, in this transaction."""
    if not rows:
        return
    # Each row its own time, as auto_now_add gives: a message's steps keep their order.
    written = [(message, fields, timezone.now()) for message, fields in rows]
    count_events((message, fields["status"], fields.get("error_code"), at) for message, fields, at in written)
    if connection.vendor == "postgresql":
        columns = ("message_id", "status", "error_code", "error_message", "source", "created_at")
        source, params = json_rows(
            columns,
            ("text",) * 5 + ("timestamptz",),
            [
                (
                    message.id,
                    fields["status"],
                    fields.get("error_code"),
                    fields.get("error_message"),
                    fields["source"],
                    at,
                )
                for message, fields, at in written
            ],
        )
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {_EVENTS} ({', '.join(columns)}) {source}", params)  # noqa: S608
        return
    with connection.cursor() as cursor:
        for start in range(0, len(written), _EVENT_ROWS_PER_INSERT):
            chunk = written[start : start + _EVENT_ROWS_PER_INSERT]
            params = []
            for message, fields, at in chunk:
                params += (
                    message.id,
                    fields["status"],
                    fields.get("error_code"),
                    fields.get("error_message"),
                    fields["source"],
                    _param("ts", at),
                )
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {_EVENTS} (message_id, status, error_code, error_message, "  # noqa: S608
                f"source, created_at) VALUES {values}",
                params,
            )


def _tell(messages: Sequence[Message], *, callbacks: bool) -> None:
    """After commit: publish once per workspace; the status callbacks, with each message as it is
    at this change (a later change gets its own)."""
    if not messages:
        return
    events.messages_updated(messages)
    if callbacks:
        pending = [(m.status_callback, events.message_payload(m)) for m in messages if m.status_callback]
        if pending:
            # The list only runs the calls: on_commit discards what its callback returns.
            transaction.on_commit(lambda: [enqueue_status_callback(url, data) for url, data in pending])  # type: ignore[func-returns-value]


def _wake(items: Sequence[tuple[str, float | None]]) -> None:
    """After commit, a send task per message (id, countdown in seconds or None)."""
    if items:
        transaction.on_commit(lambda: [enqueue_send(mid, countdown=countdown) for mid, countdown in items])  # type: ignore[func-returns-value]


# Outbound delivery ---------------------------------------------------------------------------


def _scope(
    providers: Iterable[str] | None, exclude_providers: Iterable[str], account_ids: Iterable[int] | None
) -> tuple[str | None, list[Any]]:
    """The claim's `AND …` conditions on each message's own carrier account; None: nothing can
    match (an empty list of providers or accounts)."""
    params: list[Any]
    scope, params = "", []
    for wanted, negate in ((providers, ""), (exclude_providers, "NOT ")):
        names = sorted(wanted) if wanted is not None else None
        if names is None or (negate and not names):
            continue
        if not names:
            return None, []
        # A message of no account at all is not any provider's: Celery's rounds fail it. Which
        # account is the message's own costs three look-ups a row; a workspace with no account of
        # these providers at all settles it with one (most rows, as few workspaces use SMPP).
        any_of_them = (
            f"EXISTS (SELECT 1 FROM {_ACCOUNTS} w WHERE w.workspace_id = "  # noqa: S608
            f"{_TABLE}.workspace_id AND w.provider IN ({_in_list(names)}))"
        )
        own_is_one = (
            f"COALESCE((SELECT a.provider FROM {_ACCOUNTS} a "  # noqa: S608
            f"WHERE a.id = {_MESSAGE_ACCOUNT}), '') IN ({_in_list(names)})"
        )
        if negate:
            scope += f" AND (NOT {any_of_them} OR NOT {own_is_one})"
        else:
            scope += f" AND {any_of_them} AND {own_is_one}"
        params += [*names, *names]
    if account_ids is not None:
        ids = sorted(account_ids)
        if not ids:
            return None, []
        scope += f" AND {_MESSAGE_ACCOUNT} IN ({_in_list(ids)})"
        params += ids
    return scope, params


@transaction.atomic(savepoint=False)
def messages_claim_due(
    *,
    limit: int,
    now: datetime | None = None,
    providers: Iterable[str] | None = None,
    exclude_providers: Iterable[str] = (),
    account_ids: Iterable[int] | None = None,
    with_fallback: bool = False,
    announce: bool = True,
) -> list[Message]:
    """Claim up to `limit` queued messages that are due, oldest first, for this worker: each moves
    to `sending` with its attempt counted. Rows another worker holds are skipped. `providers` /
    `exclude_providers` / `account_ids`: only (or all but) messages whose own carrier account
    (their sender number's account, else the workspace's primary one: numbers.routing) is of
    these providers, or one of these accounts (a bind process of its own claims its own).
    `with_fallback`: only messages with a fallback account (to fail them over)."""
    now = now or timezone.now()
    ts = _param("ts", now)
    scope, scope_params = _scope(providers, exclude_providers, account_ids)
    if scope is None:
        return []
    if with_fallback:
        scope += " AND fallback_account_id IS NOT NULL"
    claimed = _update_picked(
        pick_sql=f"status = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s){scope} "
        "ORDER BY created_at",
        pick_params=[Status.QUEUED, ts, *scope_params],
        limit=limit,
        set_sql="status = %s, claimed_at = %s, attempts = attempts + 1, updated_at = %s",
        set_params=[Status.SENDING, ts, ts],
        guard_sql="status = %s",
        guard_params=[Status.QUEUED],
    )
    claimed.sort(key=lambda m: m.created_at)
    return messages_announce_sending(claimed) if announce else claimed


@transaction.atomic(savepoint=False)
def messages_claim(
    *, message_ids: Sequence[str], exclude_providers: Iterable[str] | None = None
) -> list[Message]:
    """Claim the given messages that are still queued (a duplicate task finds nothing), except
    those of providers served by processes of their own (DISPATCH_OWN_PROCESS_PROVIDERS unless
    `exclude_providers` says otherwise): their process claims them."""
    if not message_ids:
        return []
    if exclude_providers is None:
        exclude_providers = settings.DISPATCH_OWN_PROCESS_PROVIDERS
    scope, scope_params = _scope(None, exclude_providers, None)
    ts = _param("ts", timezone.now())
    sql = (
        f"UPDATE {_TABLE} SET status = %s, claimed_at = %s, attempts = attempts + 1, "  # noqa: S608
        f"updated_at = %s WHERE id IN ({_in_list(message_ids)}) AND status = %s{scope}"
    )
    return _claimed(_returning(sql, [Status.SENDING, ts, ts, *message_ids, Status.QUEUED, *scope_params]))


def messages_announce_sending(claimed: Sequence[Message]) -> list[Message]:
    """The `sending` of claimed messages, in their history and to subscribers. The delivery
    engine claims without announcing and announces only the messages it is about to send: one
    that waits for its sender's slot goes back to `queued` unseen, so nobody sees it step back."""
    claimed = list(claimed)
    _events([(m, {"status": Status.SENDING, "source": "worker"}) for m in claimed])
    _tell(claimed, callbacks=False)
    return claimed


_claimed = messages_announce_sending


@transaction.atomic(savepoint=False)
def messages_mark_sent(items: Sequence[Sent], *, source: str = "worker") -> list[Message]:
    """The carrier took these messages: sending (or queued) → sent with its sid. One that a fast
    callback already moved on keeps its status and only gains the sid it lacked."""
    if not items:
        return []
    now = timezone.now()
    rows = [(i.message_id, i.provider_sid) for i in items]
    columns = [("id", "text"), ("sid", "text")]
    moved = _update_from_values(
        columns=columns,
        rows=rows,
        set_sql="status = %s, provider_sid = COALESCE(provider_sid, v.v_sid), sent_at = %s, "
        "next_attempt_at = NULL, updated_at = %s",
        where_sql="status IN (%s, %s)",
        params=[Status.SENT, _param("ts", now), _param("ts", now), Status.SENDING, Status.QUEUED],
    )
    done = {m.id for m in moved}
    rest = [row for row in rows if row[0] not in done]
    sid_only = _update_from_values(
        columns=columns,
        rows=rest,
        set_sql="provider_sid = v.v_sid, updated_at = %s",
        where_sql="provider_sid IS NULL",
        params=[_param("ts", now)],
    )
    _events([(m, {"status": Status.SENT, "source": source}) for m in moved])
    _tell(moved, callbacks=True)
    _tell(sid_only, callbacks=False)
    return moved


@transaction.atomic(savepoint=False)
def messages_fail(items: Sequence[Failed], *, source: str = "worker") -> list[Message]:
    """End these messages `failed` with the carrier's code, unless they already ended."""
    if not items:
        return []
    now = timezone.now()
    failed = _update_from_values(
        columns=[("id", "text"), ("code", "text"), ("reason", "text")],
        rows=[(i.message_id, i.code, i.reason) for i in items],
        set_sql="status = %s, error_code = v.v_code, error_message = v.v_reason, "
        "next_attempt_at = NULL, updated_at = %s",
        where_sql=f"status NOT IN ({_final_list()})",
        params=[Status.FAILED, _param("ts", now)],
    )
    _events(
        [
            (
                m,
                {
                    "status": Status.FAILED,
                    "error_code": m.error_code,
                    "error_message": m.error_message,
                    "source": source,
                },
            )
            for m in failed
        ]
    )
    _tell(failed, callbacks=True)
    return failed


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, at least what the carrier asked for."""
    ceiling = min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0)


@transaction.atomic(savepoint=False)
def messages_retry_later(items: Sequence[RetryLater], *, wake: bool = True) -> list[Message]:
    """Put claimed messages back to `queued` after a backoff; those out of attempts end `failed`.
    Answers the messages requeued and failed."""
    give_up = [i for i in items if i.attempts >= settings.SEND_MAX_ATTEMPTS]
    failed = messages_fail(
        [
            Failed(
                i.message_id,
                i.code or "carrier_unavailable",
                f"Gave up after {i.attempts} attempts: {i.reason}",
            )
            for i in give_up
        ]
    )
    again = [i for i in items if i.attempts < settings.SEND_MAX_ATTEMPTS]
    if not again:
        return failed
    now = timezone.now()
    delays = {i.message_id: retry_delay(i.attempts, i.retry_after) for i in again}
    requeued = _update_from_values(
        columns=[("id", "text"), ("at", "ts")],
        rows=[(i.message_id, now + timedelta(seconds=delays[i.message_id])) for i in again],
        set_sql="status = %s, claimed_at = NULL, next_attempt_at = v.v_at, updated_at = %s",
        where_sql="status = %s",
        params=[Status.QUEUED, _param("ts", now), Status.SENDING],
    )
    by_id = {i.message_id: i for i in again}
    _events(
        [
            (
                m,
                {
                    "status": Status.QUEUED,
                    "error_code": by_id[m.id].code,
                    "source": "worker",
                    "error_message": f"Retrying in {delays[m.id]:.0f}s: {by_id[m.id].reason}",
                },
            )
            for m in requeued
        ]
    )
    _tell(requeued, callbacks=False)
    if wake:
        _wake([(m.id, delays[m.id]) for m in requeued])
    return requeued + failed


@transaction.atomic(savepoint=False)
def messages_wait_for_slot(items: Sequence[WaitForSlot], *, announced: bool = True) -> list[Message]:
    """Put claimed messages back to `queued` for a later pacing slot, as if they had not been
    claimed: the attempt did not happen. The caller wakes them for their slot (pacing). Messages
    claimed but never announced (`announced=False`) go back silently: no history row, no event."""
    now = timezone.now()
    waiting = _update_from_values(
        columns=[("id", "text"), ("at", "ts")],
        rows=[(i.message_id, datetime.fromtimestamp(i.not_before, UTC)) for i in items],
        set_sql="status = %s, claimed_at = NULL, attempts = attempts - 1, "
        "next_attempt_at = v.v_at, updated_at = %s",
        where_sql="status = %s",
        params=[Status.QUEUED, _param("ts", now), Status.SENDING],
    )
    if announced:
        reasons = {i.message_id: i.reason for i in items}
        _events(
            [
                (m, {"status": Status.QUEUED, "source": "worker", "error_message": reasons[m.id]})
                for m in waiting
            ]
        )
        _tell(waiting, callbacks=False)
    return waiting


@transaction.atomic(savepoint=False)
def messages_fail_over(items: Sequence[FailOver]) -> list[Message]:
    """Claimed messages that their carrier account definitely did not take → `queued`, due now,
    on their fallback account and its sender, the fallback cleared (a message fails over once) and
    the attempts counted afresh. The change is told as `message.failed_over`; the caller wakes a
    runner (the engine's own rounds claim due messages from the table)."""
    now = timezone.now()
    moved = _update_from_values(
        columns=[("id", "text"), ("account", "int"), ("sender", "text"), ("service", "text")],
        rows=[(i.message_id, i.account_id, i.from_number, i.messaging_service_sid) for i in items],
        set_sql="status = %s, carrier_account_id = v.v_account, fallback_account_id = NULL, "
        "from_number = v.v_sender, messaging_service_sid = v.v_service, attempts = 0, "
        "claimed_at = NULL, next_attempt_at = NULL, updated_at = %s",
        where_sql="status = %s AND fallback_account_id = v.v_account",
        params=[Status.QUEUED, _param("ts", now), Status.SENDING],
    )
    by_id = {i.message_id: i for i in items}
    _events(
        [
            (
                m,
                {
                    "status": Status.QUEUED,
                    "source": "failover",
                    "error_code": by_id[m.id].code,
                    "error_message": by_id[m.id].reason,
                },
            )
            for m in moved
        ]
    )
    if moved:
        events.messages_failed_over(moved)
    return moved


# Carrier statuses ----------------------------------------------------------------------------


def _order(report: StatusReport) -> int:
    return STATUS_RANK.get(report.status, -1)


@transaction.atomic(savepoint=False)
def messages_apply_statuses(reports: Sequence[StatusReport], *, source: str = "carrier") -> StatusOutcome:
    """Apply statuses the carrier reported, many messages at once: each message takes its reports
    in status order, skipping duplicates and anything not ahead of where it is."""
    outcome = StatusOutcome()
    if not reports:
        return outcome
    ids = sorted({r.message_id for r in reports})
    # Locked in id order, so two batches touching the same messages cannot deadlock.
    locked = {m.id: m for m in _locked(ids)}
    claimed_sids = _sids_held_elsewhere(reports, locked)
    by_message: dict[str, list[tuple[int, StatusReport]]] = defaultdict(list)
    for index, report in enumerate(reports):
        by_message[report.message_id].append((index, report))
    now = timezone.now()
    changed: list[Message] = []
    new_events: list[tuple[Message, dict[str, Any]]] = []
    for message_id, indexed in by_message.items():
        message = locked.get(message_id)
        if message is None:
            outcome.refused.update({i: f"No message {message_id}." for i, _ in indexed})
            continue
        before = (message.status, message.provider_sid)
        moved = False
        for index, report in sorted(indexed, key=lambda pair: _order(pair[1])):
            refusal = _refusal(message, report, claimed_sids)
            if refusal:
                outcome.refused[index] = refusal
                continue
            if report.provider_sid and not message.provider_sid:
                message.provider_sid = report.provider_sid
            if _advance(message, report, now):
                moved = True
                new_events.append(
                    (
                        message,
                        {
                            "status": report.status,
                            "source": source,
                            "error_code": report.error_code,
                            "error_message": report.error_message,
                        },
                    )
                )
        if (message.status, message.provider_sid) != before:
            message.updated_at = now
            changed.append(message)
        if moved:
            outcome.moved.append(message)
    _write_statuses(changed)
    _events(new_events)
    moved_ids = {m.id for m in outcome.moved}
    _tell(outcome.moved, callbacks=True)
    _tell([m for m in changed if m.id not in moved_ids], callbacks=False)
    return outcome


def _locked(ids: Sequence[str]) -> list[Message]:
    """The messages, locked for this transaction."""
    if connection.vendor == "postgresql":
        wanted, params = "SELECT json_array_elements_text(%s::json)", [orjson.dumps(list(ids)).decode()]
    else:
        wanted, params = _in_list(ids), list(ids)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id IN ({wanted}) "  # noqa: S608
            f"ORDER BY id{lock}",
            params,
        )
        return _messages_of(cursor.fetchall())


def _sids_held_elsewhere(reports: Sequence[StatusReport], locked: dict[str, Message]) -> dict[str, str]:
    """Carrier sids that reports would give to a message lacking one, and which message holds
    each already."""
    wanted = {
        r.provider_sid
        for r in reports
        if r.provider_sid and r.message_id in locked and not locked[r.message_id].provider_sid
    }
    if not wanted:
        return {}
    # Not null: filtered by the sids.
    return cast(
        "dict[str, str]",
        dict(Message.objects.filter(provider_sid__in=wanted).values_list("provider_sid", "pk")),
    )


def _refusal(message: Message, report: StatusReport, claimed_sids: dict[str, str]) -> str | None:
    if report.provider_sid and message.provider_sid and report.provider_sid != message.provider_sid:
        return (
            f"The callback's carrier sid {report.provider_sid} is not the sid of "
            f"{message.id} ({message.provider_sid})."
        )
    holder = claimed_sids.get(report.provider_sid or "")
    if holder and holder != message.id:
        return f"The callback's carrier sid {report.provider_sid} belongs to another message."
    if message.status == Status.SCHEDULED:
        return f"{message.id} is scheduled: it was never handed to the carrier."
    if report.status not in STATUS_RANK:
        return f"Unknown status {report.status!r}."
    return None


def _advance(message: Message, report: StatusReport, now: datetime) -> bool:
    status = report.status
    if message.status in FINAL_STATUSES or STATUS_RANK[status] <= STATUS_RANK[message.status]:
        return False
    message.status = status
    message.next_attempt_at = None
    if status == Status.SENT or status in FINAL_STATUSES:
        message.sent_at = message.sent_at or now
    if status == Status.DELIVERED:
        message.delivered_at = now
    if status in (Status.FAILED, Status.UNDELIVERED):
        message.error_code = report.error_code
        message.error_message = report.error_message
    return True


def _write_statuses(messages: Sequence[Message]) -> None:
    """One UPDATE for the locked messages whose status (or sid) changed in Python."""
    _update_from_values(
        columns=[
            ("id", "text"),
            ("status", "text"),
            ("sid", "text"),
            ("sent", "ts"),
            ("delivered", "ts"),
            ("code", "text"),
            ("reason", "text"),
            ("next", "ts"),
            ("updated", "ts"),
        ],
        rows=[
            (
                m.id,
                m.status,
                m.provider_sid,
                m.sent_at,
                m.delivered_at,
                m.error_code,
                m.error_message,
                m.next_attempt_at,
                m.updated_at,
            )
            for m in messages
        ],
        set_sql="status = v.v_status, provider_sid = v.v_sid, sent_at = v.v_sent, "
        "delivered_at = v.v_delivered, error_code = v.v_code, error_message = v.v_reason, "
        "next_attempt_at = v.v_next, updated_at = v.v_updated",
    )


# Operator and API actions, sweeps --------------------------------------------------------------


@transaction.atomic(savepoint=False)
def messages_cancel(
    *,
    message_ids: Sequence[str],
    source: str = "api",
    statuses: Sequence[str] = (Status.SCHEDULED,),
    reason: str | None = None,
) -> list[Message]:
    """Messages in one of `statuses` (scheduled: the API's cancel; queued too: a broadcast's) →
    canceled; answers those canceled (the others had moved on)."""
    if not message_ids:
        return []
    ts = _param("ts", timezone.now())
    sql = (
        f"UPDATE {_TABLE} SET status = %s, next_attempt_at = NULL, updated_at = %s "  # noqa: S608
        f"WHERE id IN ({_in_list(message_ids)}) AND status IN ({_in_list(statuses)})"
    )
    canceled = _returning(sql, [Status.CANCELED, ts, *message_ids, *statuses])
    _events([(m, {"status": Status.CANCELED, "source": source, "error_message": reason}) for m in canceled])
    _tell(canceled, callbacks=False)
    return canceled


@transaction.atomic(savepoint=False)
def messages_expire_unsent(
    *, code: str, reason: str, limit: int, now: datetime | None = None
) -> list[Message]:
    """Queued or scheduled messages whose validity ran out (expires_at) → failed with `code`."""
    now = now or timezone.now()
    ts = _param("ts", now)
    unsent = [Status.QUEUED, Status.SCHEDULED]
    expired = _update_picked(
        pick_sql="status IN (%s, %s) AND expires_at <= %s ORDER BY expires_at",
        pick_params=[*unsent, ts],
        limit=limit,
        set_sql="status = %s, error_code = %s, error_message = %s, next_attempt_at = NULL, updated_at = %s",
        set_params=[Status.FAILED, code, reason, ts],
        guard_sql="status IN (%s, %s)",
        guard_params=unsent,
    )
    _events(
        [
            (m, {"status": Status.FAILED, "error_code": code, "error_message": reason, "source": "sweep"})
            for m in expired
        ]
    )
    _tell(expired, callbacks=True)
    return expired


@transaction.atomic(savepoint=False)
def messages_requeue(
    *, message_ids: Sequence[str], source: str = "operator", wake: bool = True
) -> list[Message]:
    """Send failed or undelivered messages again, from scratch (an operator's decision); answers
    those requeued (the others were not failed or undelivered)."""
    if not message_ids:
        return []
    ts = _param("ts", timezone.now())
    sql = (
        f"UPDATE {_TABLE} SET status = %s, attempts = 0, error_code = NULL, error_message = NULL, "  # noqa: S608
        f"provider_sid = NULL, next_attempt_at = NULL, claimed_at = NULL, updated_at = %s "
        f"WHERE id IN ({_in_list(message_ids)}) AND status IN (%s, %s)"
    )
    requeued = _returning(sql, [Status.QUEUED, ts, *message_ids, Status.FAILED, Status.UNDELIVERED])
    _events([(m, {"status": Status.QUEUED, "source": source}) for m in requeued])
    _tell(requeued, callbacks=False)
    if wake:
        _wake([(m.id, None) for m in requeued])
    return requeued


@transaction.atomic(savepoint=False)
def messages_release_scheduled(
    *, limit: int, now: datetime | None = None, wake: bool = True
) -> list[Message]:
    """Due scheduled messages → queued (the sweep), oldest schedule first."""
    now = now or timezone.now()
    ts = _param("ts", now)
    released = _update_picked(
        pick_sql="status = %s AND scheduled_at <= %s ORDER BY scheduled_at",
        pick_params=[Status.SCHEDULED, ts],
        limit=limit,
        set_sql="status = %s, updated_at = %s",
        set_params=[Status.QUEUED, ts],
        guard_sql="status = %s",
        guard_params=[Status.SCHEDULED],
    )
    _events([(m, {"status": Status.QUEUED, "source": "sweep"}) for m in released])
    _tell(released, callbacks=False)
    if wake:
        _wake([(m.id, None) for m in released])
    return released


@transaction.atomic(savepoint=False)
def messages_requeue_abandoned(items: Sequence[tuple[str, datetime]], *, wake: bool = True) -> list[Message]:
    """Claims a dead worker left behind → queued, each only if it is still that claim (id,
    claimed_at) and the carrier has no sid for it. The carrier look-up comes first (sweeps)."""
    now = timezone.now()
    requeued = _update_from_values(
        columns=[("id", "text"), ("claimed", "ts")],
        rows=list(items),
        set_sql="status = %s, claimed_at = NULL, updated_at = %s",
        where_sql="status = %s AND claimed_at = v.v_claimed AND provider_sid IS NULL",
        params=[Status.QUEUED, _param("ts", now), Status.SENDING],
    )
    _events(
        [
            (
                m,
                {
                    "status": Status.QUEUED,
                    "source": "sweep",
                    "error_message": "Worker lost, and the carrier has no such message; sending again.",
                },
            )
            for m in requeued
        ]
    )
    _tell(requeued, callbacks=False)
    if wake:
        _wake([(m.id, None) for m in requeued])
    return requeued


# One message: the batch functions with one item --------------------------------------------------


def message_claim(*, message_id: str) -> Message | None:
    """Move a queued message to `sending` for this worker; None if someone else has it."""
    claimed = messages_claim(message_ids=[message_id])
    return claimed[0] if claimed else None


def message_mark_sent(*, message_id: str, provider_sid: str, source: str = "worker") -> Message:
    messages_mark_sent([Sent(message_id, provider_sid)], source=source)
    return Message.objects.select_related("workspace").get(pk=message_id)


def message_fail(*, message: Message, code: str, reason: str, source: str = "worker") -> None:
    messages_fail([Failed(message.id, code, reason)], source=source)


def message_retry_later(*, message: Message, error: "ProviderError", wake: bool = True) -> None:
    """`error`: the carrier's transient refusal (a ProviderError)."""
    messages_retry_later(
        [RetryLater(message.id, message.attempts, error.message, error.code, error.retry_after)], wake=wake
    )


def message_wait_for_slot(*, message: Message, not_before: float, reason: str = WAITING_FOR_TURN) -> bool:
    """Answers whether the message went back (it was still `sending`)."""
    return bool(messages_wait_for_slot([WaitForSlot(message.id, not_before, reason)]))


def message_apply_status(
    *,
    message: Message,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
    provider_sid: str | None = None,
    source: str = "carrier",
) -> bool:
    """Apply one status the carrier reported; answers whether the message moved. A refused
    report (another carrier sid, a never-sent message) raises ValueError."""
    outcome = messages_apply_statuses(
        [StatusReport(message.id, status, error_code, error_message, provider_sid)], source=source
    )
    if outcome.refused:
        raise ValueError(outcome.refused[0])
    return bool(outcome.moved)


def message_cancel(*, message: Message, source: str = "api") -> Message:
    """Cancel a scheduled message; anything already queued or sent cannot be called back."""
    canceled = messages_cancel(message_ids=[message.id], source=source)
    if not canceled:
        status = Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()
        raise DomainError("not_cancelable", f"Only scheduled messages can be canceled; this one is {status}.")
    return canceled[0]


def message_retry(*, message: Message, source: str = "operator") -> Message:
    """Send a failed or undelivered message again (an operator's decision)."""
    requeued = messages_requeue(message_ids=[message.id], source=source)
    if not requeued:
        raise DomainError("not_retryable", "Only failed or undelivered messages can be retried.")
    return requeued[0]
