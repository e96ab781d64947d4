"""Celery tasks: each loads by id and calls a service. Enqueueing never raises into the caller:
if the broker is down, the periodic sweep finds the work in the database later."""

import logging

import requests
from celery import shared_task

from messaging_platform.api.idempotency import purge_expired_idempotency_records

from . import broadcasts, carrier_events, contacts, delivery, outbound, validity
from .urlsafety import UnsafeUrl, check_public_url

logger = logging.getLogger(__name__)

STATUS_CALLBACK_TIMEOUT = 5


@shared_task(acks_late=True, ignore_result=True)
def send_message(message_id: str, not_before: float | None = None) -> None:
    delivery.message_deliver(message_id=message_id, not_before=not_before)


def enqueue_send(message_id: str, countdown: float | None = None,
                 not_before: float | None = None) -> None:
    """`not_before`: the pacing slot the message already holds (epoch seconds)."""
    try:
        kwargs = {"not_before": not_before} if not_before is not None else {}
        send_message.apply_async((message_id,), kwargs, countdown=countdown)
    except Exception:
        logger.exception("Could not enqueue %s; the sweep will pick it up", message_id)


ENQUEUE_CHUNK = 100


@shared_task(acks_late=True, ignore_result=True)
def enqueue_sends(message_ids: list[str]) -> None:
    for message_id in message_ids:
        enqueue_send(message_id)


def enqueue_many(message_ids: list[str]) -> None:
    """Enqueue a batch's sends: a few fan-out tasks, so that the request publishes a handful of
    broker messages rather than a thousand (the workers publish the rest)."""
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER or len(message_ids) <= 10:
        for message_id in message_ids:
            enqueue_send(message_id)
        return
    for start in range(0, len(message_ids), ENQUEUE_CHUNK):
        chunk = message_ids[start:start + ENQUEUE_CHUNK]
        try:
            enqueue_sends.delay(chunk)
        except Exception:
            logger.exception("Could not enqueue %d sends; the sweep will pick them up", len(chunk))


@shared_task(acks_late=True, ignore_result=True)
def process_carrier_event(event_id: str) -> None:
    carrier_events.carrier_event_process(event_id=event_id)


def enqueue_carrier_event(event_id: str) -> None:
    try:
        process_carrier_event.delay(event_id)
    except Exception:
        logger.exception("Could not enqueue carrier event %s; the sweep will pick it up", event_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    delivery.sweep_messages()
    carrier_events.sweep_carrier_events()
    contacts.sweep_contact_imports()
    broadcasts.broadcasts_sweep()
    validity.expire_unsent_messages()


@shared_task(ignore_result=True)
def reconcile() -> None:
    delivery.reconcile_sent_messages()


@shared_task(acks_late=True, ignore_result=True)
def check_carrier(message_id: str) -> None:
    delivery.message_check_carrier(message_id=message_id)


@shared_task(ignore_result=True)
def purge_idempotency_records() -> None:
    purge_expired_idempotency_records()


@shared_task(acks_late=True, ignore_result=True, max_retries=6,
             autoretry_for=(requests.RequestException,), retry_backoff=5, retry_backoff_max=600,
             retry_jitter=True)
def notify_status_callback(url: str, data: dict) -> None:
    """POST a message's new state to the status_callback URL the integrator gave on send."""
    try:
        check_public_url(url)  # again: DNS may point elsewhere now
    except UnsafeUrl as exc:
        logger.warning("Status callback of %s refused: %s", data.get("id"), exc)
        return
    response = requests.post(url, json={"type": "message.status_updated", "data": data},
                             timeout=STATUS_CALLBACK_TIMEOUT, allow_redirects=False)
    if response.status_code >= 500 or response.status_code == 429:
        raise requests.HTTPError(f"status callback answered {response.status_code}")


def enqueue_status_callback(url: str, data: dict) -> None:
    try:
        notify_status_callback.delay(url, data)
    except Exception:
        logger.exception("Could not enqueue the status callback of %s", data.get("id"))


# A hard limit, beyond the HTTP timeouts, so that no receiver can hold a worker.
@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=90)
def deliver_webhook(delivery_id: str) -> None:
    outbound.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> None:
    outbound.sweep_webhook_deliveries()


@shared_task(acks_late=True, ignore_result=True)
def run_contact_import(import_id: str) -> None:
    contacts.contact_import_run(import_id=import_id)


def enqueue_contact_import(import_id: str) -> None:
    try:
        run_contact_import.delay(import_id)
    except Exception:
        logger.exception("Could not enqueue contact import %s; the sweep will pick it up", import_id)


@shared_task(acks_late=True, ignore_result=True)
def generate_broadcast(broadcast_id: str) -> None:
    broadcasts.broadcast_generate(broadcast_id=broadcast_id)


def enqueue_broadcast(broadcast_id: str) -> None:
    try:
        generate_broadcast.delay(broadcast_id)
    except Exception:
        logger.exception("Could not enqueue broadcast %s; the sweep will pick it up", broadcast_id)
