"""Celery tasks: each loads by id and calls a service. Services never import this module: they
enqueue through messaging.enqueue, which looks the tasks up by name."""

import logging
from typing import Any

import requests
from celery import shared_task
from django.conf import settings

from messaging_platform.api.idempotency import purge_expired_idempotency_records

from . import broadcasts, carrier_events, contacts, event_webhooks, list_counts, sweeps, validity
from . import dispatch as delivery_engine
from .urlsafety import UnsafeUrl, check_public_url

logger = logging.getLogger(__name__)

STATUS_CALLBACK_TIMEOUT = 5


# Not acks_late: a wake-up lost with a worker is a hint lost; the tick and the sweep wake again.
@shared_task(ignore_result=True)
def dispatch(hops: int = 0, tick: bool = False) -> None:
    """Run delivery rounds while messages are due (messaging.dispatch). Run eagerly (the embedded
    default's beat thread), one pass over what is due, retries included. `hops`: how many worker
    processes already passed this wake-up on, having runners enough of their own. `tick`: beat's
    backstop, which leaves the work to a runner at work."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        delivery_engine.run_eagerly(None)
    else:
        delivery_engine.run_rounds(hops=hops, tick=tick)


# Tasks of the per-message delivery, still in a broker from before an upgrade: the engine takes them.
@shared_task(acks_late=True, ignore_result=True)
def send_message(message_id: str, not_before: float | None = None) -> None:
    delivery_engine.dispatch_messages([message_id])


@shared_task(acks_late=True, ignore_result=True)
def enqueue_sends(message_ids: list[str]) -> None:
    delivery_engine.dispatch_messages(message_ids)


@shared_task(acks_late=True, ignore_result=True)
def apply_carrier_events(workspace_id: str | None = None, hops: int = 0) -> None:
    """A wake-up: a runner applies stored events in batches while they come (messaging.
    carrier_events). With a `workspace_id` (the sweep), or run eagerly: what is due, at once."""
    if workspace_id is not None or settings.CELERY_TASK_ALWAYS_EAGER:
        carrier_events.carrier_events_apply_pending(workspace_id=workspace_id)
    else:
        carrier_events.carrier_events_run(hops=hops)


@shared_task(ignore_result=True)
def tick_carrier_events() -> None:
    carrier_events.carrier_events_tick()


@shared_task(acks_late=True, ignore_result=True)
def process_carrier_event(event_id: str) -> None:
    """One event's task (as enqueued before events were applied in batches)."""
    carrier_events.carrier_event_process(event_id=event_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    sweeps.sweep_messages()
    carrier_events.sweep_carrier_events()
    contacts.sweep_contact_imports()
    broadcasts.broadcasts_sweep()
    validity.expire_unsent_messages()


@shared_task(ignore_result=True)
def drain_carrier_intake() -> None:
    """Carrier events kept in Redis while PostgreSQL was down go into PostgreSQL."""
    from .carrier_intake import carrier_intake_drain

    carrier_intake_drain()


@shared_task(ignore_result=True)
def reconcile() -> None:
    sweeps.reconcile_sent_messages()


@shared_task(acks_late=True, ignore_result=True)
def check_carrier(message_id: str) -> None:
    sweeps.message_check_carrier(message_id=message_id)


@shared_task(ignore_result=True)
def purge_idempotency_records() -> None:
    purge_expired_idempotency_records()


@shared_task(ignore_result=True)
def compact_list_counts() -> None:
    list_counts.list_counts_compact()


@shared_task(
    acks_late=True,
    ignore_result=True,
    max_retries=6,
    autoretry_for=(requests.RequestException,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
)
def notify_status_callback(url: str, data: dict[str, Any]) -> None:
    """POST a message's new state to the status_callback URL the integrator gave on send."""
    try:
        check_public_url(url)  # again: DNS may point elsewhere now
    except UnsafeUrl as exc:
        logger.warning("Status callback of %s refused: %s", data.get("id"), exc)
        return
    response = requests.post(
        url,
        json={"type": "message.status_updated", "data": data},
        timeout=STATUS_CALLBACK_TIMEOUT,
        allow_redirects=False,
    )
    if response.status_code >= 500 or response.status_code == 429:
        raise requests.HTTPError(f"status callback answered {response.status_code}")


# A hard limit, beyond the HTTP timeouts, so that no receiver can hold a worker.
@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=90)
def deliver_webhook(delivery_id: str) -> None:
    event_webhooks.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> None:
    event_webhooks.sweep_webhook_deliveries()


@shared_task(acks_late=True, ignore_result=True)
def run_contact_import(import_id: str) -> None:
    contacts.contact_import_run(import_id=import_id)


@shared_task(acks_late=True, ignore_result=True)
def generate_broadcast(broadcast_id: str) -> None:
    broadcasts.broadcast_generate(broadcast_id=broadcast_id)
