"""Operator and API actions, and the sweeps' changes: cancel, requeue, expire, release, abandoned."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import Message, Status
from .sql import (
    _TABLE,
    _in_list,
    _param,
    _returning,
    _update_from_values,
    _update_picked,
)
from .writes import _events, _tell, _wake


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
