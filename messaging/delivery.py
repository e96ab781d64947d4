"""Delivering outbound messages to the carrier, exactly once, through crashes and outages.

A worker claims a `queued` message by moving it to `sending` in one conditional UPDATE, so a
duplicate task finds nothing to do. Transient carrier errors put it back to `queued` with a
backoff; permanent ones end it `failed` with the carrier's code. The sweep (a periodic task)
re-enqueues whatever a lost broker message or a killed worker left behind.
"""

import logging
import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from numbers.models import ProviderAccount
from numbers.providers import BIND_PROVIDERS, get_provider
from numbers.providers.base import (
    CarrierMessage,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from numbers.selectors import status_webhook_url

from . import events, pacing
from .models import FINAL_STATUSES, Message, MessageEvent, Status

logger = logging.getLogger(__name__)

# Order of progress: a status never moves to one of lower or equal rank.
STATUS_RANK = {
    Status.SCHEDULED: 0, Status.QUEUED: 1, Status.SENDING: 2, Status.SENT: 3,
    Status.DELIVERED: 4, Status.UNDELIVERED: 4, Status.FAILED: 4, Status.CANCELED: 4,
    Status.RECEIVED: 4,
}


def status_callback_url(message: Message) -> str:
    # Our own id rides along, so a callback that beats the stored provider_sid still finds it.
    return f"{status_webhook_url(workspace=message.workspace)}?message_id={message.id}"


@transaction.atomic  # the claim and its event in one commit (one WAL flush, not two)
def message_claim(*, message_id: str) -> Message | None:
    """Move a queued message to `sending` for this worker; None if someone else has it."""
    now = timezone.now()
    claimed = Message.objects.filter(pk=message_id, status=Status.QUEUED).exclude(
        workspace__provider_account__provider__in=BIND_PROVIDERS).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    if not claimed:
        return None
    # The carrier account comes along: one query fewer per delivery.
    message = Message.objects.select_related("workspace__provider_account").get(pk=message_id)
    MessageEvent.objects.create(message=message, status=Status.SENDING, source="worker")
    events.message_updated(message)
    return message


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
    try:
        account = message.workspace.provider_account
    except ProviderAccount.DoesNotExist:
        account = None
    if account is None:
        message_fail(message=message, code="provider_not_configured",
                     reason="The workspace has no carrier account any more.")
        return
    provider = get_provider(account)
    callback_url = status_callback_url(message)
    sender = None
    if go_at is not None:
        sender = pacing.sender_of(from_number=message.from_number,
                                  messaging_service_sid=message.messaging_service_sid)
    _release_db_connection()
    for again in (False, True):
        if sender is not None:
            pacing.sleep_until(go_at)
            fresh_slot = pacing.wait_for_turn(sender)
            if fresh_slot is not None:
                message_wait_for_slot(message=message, not_before=fresh_slot)
                return
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
        break
    message_mark_sent(message_id=message.id, provider_sid=result.provider_sid)


def _release_db_connection() -> None:
    """With a connection pool (a worker running many threads), hand this thread's connection back
    while it waits on the carrier, so that threads share a few connections instead of each
    holding one through every HTTP call. Without a pool, closing would mean reconnecting."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


@transaction.atomic
def message_wait_for_slot(*, message: Message, not_before: float) -> None:
    """Put a claimed message back to `queued` for a later pacing slot (epoch seconds), as if it had
    not been claimed: the attempt did not happen."""
    now = timezone.now()
    updated = Message.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=Status.QUEUED, claimed_at=None, attempts=F("attempts") - 1,
        next_attempt_at=datetime.fromtimestamp(not_before, UTC), updated_at=now,
    )
    if not updated:
        return
    message.refresh_from_db()
    MessageEvent.objects.create(message=message, status=Status.QUEUED, source="worker",
                                error_message="Waiting for the sender's turn.")
    events.message_updated(message)
    transaction.on_commit(lambda: pacing.wait_in_broker(message_id=message.id, not_before=not_before))


@transaction.atomic
def message_mark_sent(*, message_id: str, provider_sid: str) -> Message:
    message = Message.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=message_id)
    message.provider_sid = message.provider_sid or provider_sid
    fields = ["provider_sid", "updated_at"]
    # A fast carrier callback may already have moved it on; never move it back.
    if message.status in (Status.SENDING, Status.QUEUED):
        message.status = Status.SENT
        message.sent_at = timezone.now()
        message.next_attempt_at = None
        fields += ["status", "sent_at", "next_attempt_at"]
        MessageEvent.objects.create(message=message, status=Status.SENT, source="worker")
        _notify_status_callback(message)
    message.save(update_fields=fields)
    events.message_updated(message)
    return message


@transaction.atomic
def message_fail(*, message: Message, code: str, reason: str, source: str = "worker") -> None:
    updated = Message.objects.filter(pk=message.pk).exclude(status__in=FINAL_STATUSES).update(
        status=Status.FAILED, error_code=code, error_message=reason, next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if updated:
        message.refresh_from_db()
        MessageEvent.objects.create(message=message, status=Status.FAILED, error_code=code,
                                    error_message=reason, source=source)
        events.message_updated(message)
        _notify_status_callback(message)


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, at least what the carrier asked for."""
    ceiling = min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0)


@transaction.atomic
def message_retry_later(*, message: Message, error: ProviderError) -> None:
    if message.attempts >= settings.SEND_MAX_ATTEMPTS:
        message_fail(message=message, code=error.code or "carrier_unavailable",
                     reason=f"Gave up after {message.attempts} attempts: {error.message}")
        return
    delay = retry_delay(message.attempts, error.retry_after)
    now = timezone.now()
    updated = Message.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=Status.QUEUED, claimed_at=None, next_attempt_at=now + timedelta(seconds=delay),
        updated_at=now,
    )
    if not updated:
        return
    message.refresh_from_db()
    MessageEvent.objects.create(message=message, status=Status.QUEUED, error_code=error.code,
                                error_message=f"Retrying in {delay:.0f}s: {error.message}",
                                source="worker")
    events.message_updated(message)
    from .tasks import enqueue_send

    transaction.on_commit(lambda: enqueue_send(message.id, countdown=delay))


@transaction.atomic
def message_apply_status(*, message: Message, status: str, error_code: str | None = None,
                         error_message: str | None = None, provider_sid: str | None = None,
                         source: str = "carrier") -> bool:
    """Apply a status the carrier reported. Statuses only move forward; answers whether it did."""
    message = Message.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=message.pk)
    fields = ["updated_at"]
    if provider_sid and not message.provider_sid:
        message.provider_sid = provider_sid
        fields.append("provider_sid")
    moved = (message.status not in FINAL_STATUSES
             and STATUS_RANK.get(status, -1) > STATUS_RANK[message.status])
    if moved:
        now = timezone.now()
        message.status = status
        message.next_attempt_at = None
        fields += ["status", "next_attempt_at"]
        if status == Status.SENT or (status in FINAL_STATUSES and not message.sent_at):
            message.sent_at = message.sent_at or now
            fields.append("sent_at")
        if status == Status.DELIVERED:
            message.delivered_at = now
            fields.append("delivered_at")
        if status in (Status.FAILED, Status.UNDELIVERED):
            message.error_code = error_code
            message.error_message = error_message
            fields += ["error_code", "error_message"]
        MessageEvent.objects.create(message=message, status=status, error_code=error_code,
                                    error_message=error_message, source=source)
    if len(fields) > 1:
        message.save(update_fields=fields)
    if moved:
        events.message_updated(message)
        _notify_status_callback(message)
    return moved


def _notify_status_callback(message: Message) -> None:
    if message.status_callback:
        from .serializers import MessageSerializer
        from .tasks import enqueue_status_callback

        # The message as it is at this change: a later change gets its own notification.
        data = MessageSerializer(message).data
        transaction.on_commit(lambda: enqueue_status_callback(message.status_callback, data))


@transaction.atomic
def message_retry(*, message: Message, source: str = "operator") -> Message:
    """Send a failed or undelivered message again (an operator's decision)."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.status not in (Status.FAILED, Status.UNDELIVERED):
        from messaging_platform.api.errors import ApiError

        raise ApiError("not_retryable", "Only failed or undelivered messages can be retried.",
                       status=409)
    message.status = Status.QUEUED
    message.attempts = 0
    message.error_code = message.error_message = None
    message.provider_sid = None
    message.next_attempt_at = None
    message.save()
    MessageEvent.objects.create(message=message, status=Status.QUEUED, source=source)
    events.message_updated(message)
    from .tasks import enqueue_send

    transaction.on_commit(lambda: enqueue_send(message.id))
    return message


def sweep_messages() -> dict[str, int]:
    """Re-enqueue what the broker may have lost: due scheduled, stale queued, stale sending."""
    from .tasks import enqueue_send

    now = timezone.now()
    batch = settings.SWEEP_BATCH_SIZE
    counts = {"scheduled": 0, "queued": 0, "sending": 0}

    due = list(Message.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now)
               .values_list("pk", flat=True)[:batch])
    for message_id in due:
        with transaction.atomic():
            if Message.objects.filter(pk=message_id, status=Status.SCHEDULED).update(
                    status=Status.QUEUED, updated_at=now):
                message = Message.objects.get(pk=message_id)
                MessageEvent.objects.create(message=message, status=Status.QUEUED, source="sweep")
                events.message_updated(message)
                transaction.on_commit(lambda mid=message_id: enqueue_send(mid))
                counts["scheduled"] += 1

    stale = now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    # Each stale message is re-enqueued at most once per QUEUED_STALE_SECONDS (its updated_at is
    # touched), a batch per run; a duplicate task finds nothing to claim.
    forgotten = list(
        Message.objects.filter(status=Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True, updated_at__lt=stale)
                | Q(next_attempt_at__lt=now - timedelta(seconds=settings.QUEUED_STALE_SECONDS / 4)))
        .values_list("pk", flat=True)[:batch]
    )
    for message_id in forgotten:
        Message.objects.filter(pk=message_id, status=Status.QUEUED).update(updated_at=now)
        enqueue_send(message_id)
        counts["queued"] += 1

    # A worker died between claiming and storing the carrier's answer. The carrier may have taken
    # the message already (and its receipts may have been lost too): look it up there before
    # sending it again (message_check_carrier); the lease passes again before the next look-up.
    lease = now - timedelta(seconds=settings.SEND_LEASE_SECONDS)
    abandoned = list(Message.objects.filter(status=Status.SENDING, claimed_at__lt=lease,
                                            provider_sid__isnull=True)
                     .filter(Q(carrier_check_after__isnull=True) | Q(carrier_check_after__lte=now))
                     .values_list("pk", flat=True)[:batch])
    for message_id in abandoned:
        if Message.objects.filter(pk=message_id, status=Status.SENDING).update(
                carrier_checked_at=now,
                carrier_check_after=now + timedelta(seconds=settings.SEND_LEASE_SECONDS)):
            enqueue_carrier_check(message_id)
            counts["sending"] += 1
    if any(counts.values()):
        logger.info("Sweep re-enqueued %s", counts)
    return counts


def enqueue_carrier_check(message_id: str) -> None:
    from .tasks import check_carrier

    try:
        check_carrier.delay(message_id)
    except Exception:
        logger.exception("Could not enqueue the carrier check of %s; a later sweep will", message_id)


def _provider_of(message: Message):
    account = ProviderAccount.objects.for_workspace(message.workspace).first()
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
            _requeue_abandoned(message_id=message.id, claimed_at=message.claimed_at)
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
        message_apply_status(message=message, status=found.status, error_code=found.error_code,
                             error_message=found.error_message, source="reconcile")


def _recover_abandoned(message: Message, provider) -> None:
    claimed_at = message.claimed_at
    try:
        candidates = provider.find_sent(to=message.to_number, from_number=message.from_number or None,
                                        sent_since=claimed_at, limit=50)
    except PermanentProviderError as exc:
        # The carrier will not list (credentials, a plan without the API): the send decides.
        logger.warning("Could not look up abandoned %s (%s); sending again", message.id, exc.message)
        candidates = []
    match = _match_abandoned(message, candidates)
    if match is None:
        _requeue_abandoned(message_id=message.id, claimed_at=claimed_at)
        return
    logger.warning("Abandoned %s was taken by the carrier as %s; not sending again",
                   message.id, match.provider_sid)
    with transaction.atomic():
        if not (Message.objects.select_for_update().filter(
                pk=message.pk, status=Status.SENDING, claimed_at=claimed_at, provider_sid__isnull=True)
                .exists()):
            return  # a callback or another check got there first
        message = message_mark_sent(message_id=message.id, provider_sid=match.provider_sid)
        if match.status:
            message_apply_status(message=message, status=match.status, error_code=match.error_code,
                                 error_message=match.error_message, source="reconcile")


def _match_abandoned(message: Message, candidates: list[CarrierMessage]) -> CarrierMessage | None:
    """The carrier's message that this claim created: same body, created after the claim (less
    the clock skew), with a sid no other message of ours holds; the earliest if several."""
    earliest = message.claimed_at - timedelta(seconds=settings.CARRIER_CLOCK_SKEW_SECONDS)
    fitting = [c for c in candidates
               if c.provider_sid and c.body == message.body and c.created_at is not None
               and c.created_at >= earliest
               and (not message.messaging_service_sid or not c.messaging_service_sid
                    or c.messaging_service_sid == message.messaging_service_sid)]
    known = set(Message.objects.filter(provider_sid__in=[c.provider_sid for c in fitting])
                .values_list("provider_sid", flat=True))
    fitting = sorted((c for c in fitting if c.provider_sid not in known), key=lambda c: c.created_at)
    return fitting[0] if fitting else None


@transaction.atomic
def _requeue_abandoned(*, message_id: str, claimed_at) -> None:
    from .tasks import enqueue_send

    now = timezone.now()
    if Message.objects.filter(pk=message_id, status=Status.SENDING, claimed_at=claimed_at,
                              provider_sid__isnull=True).update(
            status=Status.QUEUED, claimed_at=None, updated_at=now):
        message = Message.objects.get(pk=message_id)
        MessageEvent.objects.create(message=message, status=Status.QUEUED, source="sweep",
                                    error_message="Worker lost, and the carrier has no such message; "
                                                  "sending again.")
        events.message_updated(message)
        transaction.on_commit(lambda: enqueue_send(message_id))


def reconcile_sent_messages() -> int:
    """Have the carrier asked about a batch of messages left `sent` for a while (their receipts
    may have been refused while we were down; carriers do not retry them). Each is asked again
    only after a wait as long as its age, until it is older than the cutoff."""
    now = timezone.now()
    after = now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    cutoff = now - timedelta(seconds=settings.RECONCILE_CUTOFF_SECONDS)
    due = list(Message.objects.filter(status=Status.SENT, provider_sid__isnull=False,
                                      updated_at__lt=after, updated_at__gt=cutoff)
               .filter(Q(carrier_check_after__isnull=True) | Q(carrier_check_after__lte=now))
               .order_by("updated_at").values_list("pk", "updated_at")[:settings.RECONCILE_BATCH_SIZE])
    picked = 0
    for message_id, updated_at in due:
        wait = max(timedelta(seconds=settings.RECONCILE_AFTER_SECONDS), now - updated_at)
        if Message.objects.filter(pk=message_id, status=Status.SENT).update(
                carrier_checked_at=now, carrier_check_after=now + wait):
            enqueue_carrier_check(message_id)
            picked += 1
    if picked:
        logger.info("Reconciliation asks the carrier about %d sent messages", picked)
    return picked
