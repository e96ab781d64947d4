"""Recovery: the periodic sweeps and the reconciliation with the carrier.

The messages table is the queue of record; the broker may lose what it holds. The sweep wakes due
scheduled messages, wakes the delivery engine for queued ones whose wake-up was lost, and has the
carrier looked up for claims a dead worker left `sending` (never sent twice: the carrier may have
taken it already).
Reconciliation asks the carrier about messages left `sent`, whose receipts may have been lost.
Every status change goes through messaging.lifecycle.
"""

import logging
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from numbers.providers import get_provider
from numbers.providers.base import CarrierMessage, PermanentProviderError, ProviderError
from numbers.routing import account_for_message

from .enqueue import enqueue_carrier_check, enqueue_many
from .lifecycle import (
    StatusReport,
    message_mark_sent,
    messages_apply_statuses,
    messages_release_scheduled,
    messages_requeue_abandoned,
)
from .models import Message, Status

logger = logging.getLogger(__name__)


def sweep_messages() -> dict[str, int]:
    """Re-enqueue what the broker may have lost: due scheduled, stale queued, stale sending."""
    now = timezone.now()
    batch = settings.SWEEP_BATCH_SIZE
    counts = {"scheduled": len(messages_release_scheduled(limit=batch, now=now)), "queued": 0, "sending": 0}

    stale = now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    # Each stale message is re-enqueued at most once per QUEUED_STALE_SECONDS (its updated_at is
    # touched), a batch per run; a duplicate task finds nothing to claim.
    forgotten = list(
        Message.objects.filter(status=Status.QUEUED)
        .filter(
            Q(next_attempt_at__isnull=True, updated_at__lt=stale)
            | Q(next_attempt_at__lt=now - timedelta(seconds=settings.QUEUED_STALE_SECONDS / 4))
        )
        .values_list("pk", flat=True)[:batch]
    )
    if forgotten:
        Message.objects.filter(pk__in=forgotten, status=Status.QUEUED).update(updated_at=now)
        enqueue_many(forgotten)  # one wake-up of the delivery engine for them all
    counts["queued"] = len(forgotten)

    # A worker died between claiming and storing the carrier's answer. The carrier may have taken
    # the message already (and its receipts may have been lost too): look it up there before
    # sending it again (message_check_carrier); the lease passes again before the next look-up.
    lease = now - timedelta(seconds=settings.SEND_LEASE_SECONDS)
    abandoned = list(
        Message.objects.filter(status=Status.SENDING, claimed_at__lt=lease, provider_sid__isnull=True)
        .filter(Q(carrier_check_after__isnull=True) | Q(carrier_check_after__lte=now))
        .values_list("pk", flat=True)[:batch]
    )
    for message_id in abandoned:
        if Message.objects.filter(pk=message_id, status=Status.SENDING).update(
            carrier_checked_at=now, carrier_check_after=now + timedelta(seconds=settings.SEND_LEASE_SECONDS)
        ):
            enqueue_carrier_check(message_id)
            counts["sending"] += 1
    if any(counts.values()):
        logger.info("Sweep re-enqueued %s", counts)
    return counts


def _provider_of(message: Message):
    account = account_for_message(message)
    return get_provider(account) if account is not None else None


def message_check_carrier(*, message_id: str) -> None:
    """Ask the carrier about a message whose outcome we may have missed: one left `sent` (its
    receipts may have reached us while we were down) or one a dead worker left `sending` without
    the carrier's id. Carrier errors are logged; the next run asks again, and the message is
    never failed for them."""
    message = Message.objects.select_related("workspace").filter(pk=message_id).first()
    if message is None:
        return
    provider = _provider_of(message)
    if provider is None:
        if message.status == Status.SENDING and not message.provider_sid and message.claimed_at:
            # Nobody to ask: the send ends it (provider_not_configured) rather than leaving it.
            messages_requeue_abandoned([(message.id, message.claimed_at)])
        return
    try:
        if message.status == Status.SENT and message.provider_sid:
            _reconcile_sent(message, provider)
        elif message.status == Status.SENDING and not message.provider_sid and message.claimed_at:
            _recover_abandoned(message, provider)
    except ProviderError as exc:
        logger.warning("Carrier check of %s failed (will try again later): %s", message.id, exc.message)
    except Exception:
        logger.exception("Carrier check of %s failed (will try again later)", message.id)


def _reconcile_sent(message: Message, provider) -> None:
    found = provider.fetch_message(provider_sid=message.provider_sid)
    if found.status:
        _apply_found(message, found)


def _apply_found(message: Message, found: CarrierMessage) -> None:
    outcome = messages_apply_statuses(
        [
            StatusReport(
                message.id, found.status, found.error_code, found.error_message, found.provider_sid or None
            )
        ],
        source="reconcile",
    )
    for reason in outcome.refused.values():
        logger.warning("Carrier look-up of %s not applied: %s", message.id, reason)


def _recover_abandoned(message: Message, provider) -> None:
    claimed_at = cast(datetime, message.claimed_at)  # the caller checked it is set
    try:
        candidates = provider.find_sent(
            to=message.to_number, from_number=message.from_number or None, sent_since=claimed_at, limit=50
        )
    except PermanentProviderError as exc:
        # The carrier will not list (credentials, a plan without the API): the send decides.
        logger.warning("Could not look up abandoned %s (%s); sending again", message.id, exc.message)
        candidates = []
    match = _match_abandoned(message, candidates)
    if match is None:
        messages_requeue_abandoned([(message.id, claimed_at)])
        return
    logger.warning(
        "Abandoned %s was taken by the carrier as %s; not sending again", message.id, match.provider_sid
    )
    with transaction.atomic():
        if not (
            Message.objects.select_for_update()
            .filter(pk=message.pk, status=Status.SENDING, claimed_at=claimed_at, provider_sid__isnull=True)
            .exists()
        ):
            return  # a callback or another check got there first
        message = message_mark_sent(
            message_id=message.id, provider_sid=match.provider_sid, source="reconcile"
        )
        if match.status:
            _apply_found(message, match)


def _match_abandoned(message: Message, candidates: list[CarrierMessage]) -> CarrierMessage | None:
    """The carrier's message that this claim created: same body, created after the claim (less
    the clock skew), with a sid no other message of ours holds; the earliest if several."""
    earliest = cast(datetime, message.claimed_at) - timedelta(seconds=settings.CARRIER_CLOCK_SKEW_SECONDS)
    fitting = [
        c
        for c in candidates
        if c.provider_sid
        and c.body == message.body
        and c.created_at is not None
        and c.created_at >= earliest
        and (
            not message.messaging_service_sid
            or not c.messaging_service_sid
            or c.messaging_service_sid == message.messaging_service_sid
        )
    ]
    known = set(
        Message.objects.filter(provider_sid__in=[c.provider_sid for c in fitting]).values_list(
            "provider_sid", flat=True
        )
    )
    fitting = sorted(
        (c for c in fitting if c.provider_sid not in known), key=lambda c: cast(datetime, c.created_at)
    )
    return fitting[0] if fitting else None


def reconcile_sent_messages() -> int:
    """Have the carrier asked about a batch of messages left `sent` for a while (their receipts
    may have been refused while we were down; carriers do not retry them). Each is asked again
    only after a wait as long as its age, until it is older than the cutoff."""
    now = timezone.now()
    after = now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    cutoff = now - timedelta(seconds=settings.RECONCILE_CUTOFF_SECONDS)
    due = list(
        Message.objects.filter(
            status=Status.SENT, provider_sid__isnull=False, updated_at__lt=after, updated_at__gt=cutoff
        )
        .filter(Q(carrier_check_after__isnull=True) | Q(carrier_check_after__lte=now))
        .order_by("updated_at")
        .values_list("pk", "updated_at")[: settings.RECONCILE_BATCH_SIZE]
    )
    picked = 0
    for message_id, updated_at in due:
        wait = max(timedelta(seconds=settings.RECONCILE_AFTER_SECONDS), now - updated_at)
        if Message.objects.filter(pk=message_id, status=Status.SENT).update(
            carrier_checked_at=now, carrier_check_after=now + wait
        ):
            enqueue_carrier_check(message_id)
            picked += 1
    if picked:
        logger.info("Reconciliation asks the carrier about %d sent messages", picked)
    return picked
