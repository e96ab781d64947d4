"""Delivering one outbound message to the carrier, exactly once, through crashes and outages.

A worker claims a `queued` message by moving it to `sending` in one conditional UPDATE, so a
duplicate task finds nothing to do. Transient carrier errors put it back to `queued` with a
backoff; permanent ones end it `failed` with the carrier's code. Every status change goes through
messaging.lifecycle; the sweeps and reconciliation (messaging.sweeps) recover what a lost broker
message or a killed worker left behind.
"""

import logging
import time

from django.db import connection

from messaging_platform import metrics
from numbers.models import ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import PermanentProviderError, TransientProviderError
from numbers.routing import account_for_message
from numbers.selectors import status_webhook_url, with_query

from . import pacing
from .enqueue import enqueue_send
from .lifecycle import (
    message_claim,
    message_fail,
    message_mark_sent,
    message_retry_later,
    message_wait_for_slot,
)
from .models import Message

logger = logging.getLogger(__name__)

# After a pacing error (Redis away), how long a message waits, queued, before it is tried again.
PACING_ERROR_RETRY_SECONDS = 5.0


def status_callback_url(message: Message, account: ProviderAccount | None = None) -> str:
    # Our own id rides along, so a callback that beats the stored provider_sid still finds it.
    base = status_webhook_url(workspace=message.workspace, account=account)
    return with_query(base, message_id=message.id)


def message_deliver(*, message_id: str, not_before: float | None = None) -> None:
    """Hand one queued message to the workspace's carrier, in its sender's pace."""
    go_at = None
    if pacing.pacing_enabled():
        go_at = pacing.slot_for(message_id=message_id, not_before=not_before)
        if go_at is None:
            return  # waiting in the broker for its slot, or no longer queued
    message = message_claim(message_id=message_id)
    if message is None:
        return
    account = account_for_message(message)  # the sender's carrier account, else the primary
    if account is None:
        message_fail(message=message, code="provider_not_configured",
                     reason="The workspace has no carrier account any more.")
        return
    message.workspace = account.workspace
    provider = get_provider(account)
    callback_url = status_callback_url(message, account)
    sender = None
    if go_at is not None:
        try:
            sender = pacing.sender_of(from_number=message.from_number,
                                      messaging_service_sid=message.messaging_service_sid)
        except Exception as exc:
            _pacing_failed(message, exc)
            return
    _release_db_connection()
    for again in (False, True):
        if sender is not None:
            try:
                pacing.sleep_until(go_at)
                fresh_slot = pacing.wait_for_turn(sender)
            except Exception as exc:  # Redis away: the message must not sit `sending` for the lease
                _pacing_failed(message, exc)
                return
            if fresh_slot is not None:
                message_wait_for_fresh_slot(message=message, not_before=fresh_slot)
                return
        send_started = time.monotonic()
        try:
            result = provider.send(
                to=message.to_number,
                from_number=message.from_number or None,
                body=message.body,
                media_urls=list(message.media_urls),
                status_callback=callback_url,
                messaging_service_sid=message.messaging_service_sid or None,
            )
        except PermanentProviderError as exc:
            message_fail(message=message, code=exc.code or "carrier_rejected", reason=exc.message)
            return
        except TransientProviderError as exc:
            go_at = None if again or sender is None else pacing.retry_in_turn(sender, exc)
            if go_at is None:
                message_retry_later(message=message, error=exc)
                return
            logger.info("Carrier refused %s for throughput; once more at its sender's next turn", message.id)
            continue
        except Exception as exc:  # an adapter bug or an unexpected library error: retry, bounded
            logger.exception("Unexpected error sending %s", message.id)
            message_retry_later(message=message, error=TransientProviderError(str(exc)))
            return
        finally:
            metrics.observe_send(account.provider, send_started)
        break
    message_mark_sent(message_id=message.id, provider_sid=result.provider_sid)


def message_wait_for_fresh_slot(*, message: Message, not_before: float) -> None:
    """Put a claimed message back to `queued` for a fresh pacing slot (epoch seconds) and have
    the broker hold it until then."""
    if message_wait_for_slot(message=message, not_before=not_before):
        pacing.wait_in_broker(message_id=message.id, not_before=not_before)


def _pacing_failed(message: Message, exc: Exception) -> None:
    """Pacing failed after the claim (and before the carrier call): back to `queued` at once, the
    attempt not counted, to be tried again shortly (the sweep takes it if this wake-up is lost
    with the broker)."""
    logger.warning("Pacing failed for %s (%s); queued again", message.id, exc)
    if message_wait_for_slot(message=message, not_before=time.time() + PACING_ERROR_RETRY_SECONDS,
                             reason=f"Pacing unavailable, trying again shortly: {exc}"):
        enqueue_send(message.id, countdown=PACING_ERROR_RETRY_SECONDS)


def _release_db_connection() -> None:
    """With a connection pool (a worker running many threads), hand this thread's connection back
    while it waits on the carrier, so that threads share a few connections instead of each
    holding one through every HTTP call. Without a pool, closing would mean reconnecting."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
