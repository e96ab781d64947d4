"""Outbound delivery: claims, and what became of each send (sent, failed, later, its turn, failover)."""

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import Message, Status
from .outcomes import (
    Failed,
    FailOver,
    RetryLater,
    Sent,
    WaitForSlot,
)
from .sql import (
    _ACCOUNTS,
    _MESSAGE_ACCOUNT,
    _TABLE,
    _final_list,
    _in_list,
    _param,
    _returning,
    _returning_sids,
    _update_from_values,
    _update_picked,
)
from .writes import _events, _tell, _wake


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
def messages_mark_sent(
    items: Sequence[Sent], *, source: str = "worker", claimed: Mapping[str, Message] | None = None
) -> list[Message]:
    """The carrier took these messages: sending (or queued) → sent with its sid. One that a fast
    callback already moved on keeps its status and only gains the sid it lacked. `claimed`: the
    messages as their claim answered them (the delivery engine holds them), changed here in
    Python as the statement changes their rows rather than read back whole."""
    if not items:
        return []
    now = timezone.now()
    rows = [(i.message_id, i.provider_sid) for i in items]
    columns = [("id", "text"), ("sid", "text")]
    mark: dict[str, Any] = {
        "columns": columns,
        "rows": rows,
        "set_sql": "status = %s, provider_sid = COALESCE(provider_sid, v.v_sid), sent_at = %s, "
        "next_attempt_at = NULL, updated_at = %s",
        "where_sql": "status IN (%s, %s)",
        "params": [Status.SENT, _param("ts", now), _param("ts", now), Status.SENDING, Status.QUEUED],
    }
    moved: list[Message]
    if claimed is not None and all(i.message_id in claimed for i in items):
        moved = []
        for message_id, sid in _update_from_values(**mark, returning=_returning_sids):
            message = claimed[message_id]
            message.status, message.provider_sid, message.sent_at = Status.SENT, sid, now
            message.next_attempt_at, message.updated_at = None, now
            moved.append(message)
    else:
        moved = _update_from_values(**mark)
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
