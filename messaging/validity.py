"""Validity periods: a message still not sent when its `expires_at` passes ends `failed` with the
error code `expired`, rather than reaching someone hours after it stopped mattering."""

from django.db import transaction
from django.utils import timezone

from . import events
from .models import Message, MessageEvent, Status

EXPIRED = "expired"
UNSENT = [Status.QUEUED, Status.SCHEDULED]


def expire_unsent_messages(*, batch: int = 1000) -> int:
    """Fail a batch of messages whose validity ran out before a worker sent them."""
    now = timezone.now()
    with transaction.atomic():
        due = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status__in=UNSENT, expires_at__lte=now).values_list("pk", flat=True)[:batch])
        if not due:
            return 0
        reason = "Not sent within its validity period."
        Message.objects.filter(pk__in=due, status__in=UNSENT).update(
            status=Status.FAILED, error_code=EXPIRED, error_message=reason, next_attempt_at=None,
            updated_at=now)
        MessageEvent.objects.bulk_create([
            MessageEvent(message_id=pk, status=Status.FAILED, error_code=EXPIRED, error_message=reason,
                         source="sweep", created_at=now) for pk in due])
        for message in Message.objects.filter(pk__in=due):
            events.message_updated(message)
    return len(due)
