"""Handing work to the Celery workers: the one place services reach the task queue.

Services call these helpers (usually from `transaction.on_commit`); the tasks are looked up by
name in the Celery app, so that services never import `messaging.tasks` (which imports them).
Enqueueing never raises into the caller: with the broker down, the periodic sweeps find the work
in the database later.
"""

import logging
import time
from typing import Any

from messaging_platform.celery import app

from . import wakeup

logger = logging.getLogger(__name__)

APPLY_CARRIER_EVENTS = "messaging.tasks.apply_carrier_events"
CHECK_CARRIER = "messaging.tasks.check_carrier"
NOTIFY_STATUS_CALLBACK = "messaging.tasks.notify_status_callback"
DELIVER_WEBHOOK = "messaging.tasks.deliver_webhook"
RUN_CONTACT_IMPORT = "messaging.tasks.run_contact_import"
GENERATE_BROADCAST = "messaging.tasks.generate_broadcast"


def _apply_async(
    task_name: str, args: tuple = (), kwargs: dict[str, Any] | None = None, *, what: str, **options: Any
) -> bool:
    try:
        task = app.tasks[task_name]
        if options.get("countdown") is None:
            task.delay(*args, **(kwargs or {}))
        else:
            task.apply_async(args, kwargs or {}, **options)
        return True
    except Exception:
        logger.exception("Could not enqueue %s; a sweep will pick it up", what)
        return False


def enqueue_send(message_id: str, countdown: float | None = None, not_before: float | None = None) -> None:
    """Have the delivery engine send one queued message (now, or when it comes due in `countdown`
    seconds): a coalesced wake-up of its runners, not a task per message (messaging.wakeup).
    `not_before` is accepted for old callers and means the same as a countdown."""
    if countdown is None and not_before is not None:
        countdown = max(0.0, not_before - time.time())
    wakeup.wake(countdown=countdown, message_ids=[message_id])


def enqueue_many(message_ids: list[str], *, pending: bool | None = None) -> None:
    """Have the delivery engine send a batch's queued messages: one wake-up however many.
    `pending`: the answer of the wake-up's SET NX, sent by the caller (wakeup.pending_command)."""
    if message_ids:
        wakeup.wake(message_ids=message_ids, pending=pending)


def enqueue_carrier_event(event_id: str) -> None:
    """A stored event: applied with the others in a batch."""
    enqueue_carrier_events_apply()


def enqueue_carrier_events_apply(*, workspace_id: str | None = None, coalesce: bool = True) -> None:
    """Have a worker apply the stored carrier events: by default a coalesced wake-up of the
    runners (messaging.wakeup), which gather events into batches; with a `workspace_id` (the
    sweep, an operator's re-run) or `coalesce=False`, a task of its own."""
    if coalesce and workspace_id is None:
        wakeup.wake_events()
        return
    kwargs = {"workspace_id": workspace_id} if workspace_id else {}
    _apply_async(APPLY_CARRIER_EVENTS, (), kwargs, what="the carrier events' apply")


def enqueue_carrier_check(message_id: str) -> None:
    _apply_async(CHECK_CARRIER, (message_id,), what=f"the carrier check of {message_id}")


def enqueue_status_callback(url: str, data: dict) -> None:
    _apply_async(NOTIFY_STATUS_CALLBACK, (url, data), what=f"the status callback of {data.get('id')}")


def enqueue_webhook_delivery(delivery_id: str) -> None:
    _apply_async(DELIVER_WEBHOOK, (delivery_id,), what=f"webhook delivery {delivery_id}")


def enqueue_contact_import(import_id: str) -> None:
    _apply_async(RUN_CONTACT_IMPORT, (import_id,), what=f"contact import {import_id}")


def enqueue_broadcast(broadcast_id: str) -> None:
    _apply_async(GENERATE_BROADCAST, (broadcast_id,), what=f"broadcast {broadcast_id}")
