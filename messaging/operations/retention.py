"""Data retention and redaction: a message's body and media are removed (its status, numbers,
segments and dates stay), with every stored copy of them: the carrier's raw event and the
outbound webhook payloads.

Retention runs from beat in small batches, each its own short transaction over rows it locks with
SKIP LOCKED, so a send or a status update is never kept waiting for long.
"""

from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.models import FINAL_STATUSES, CarrierEvent, Message, Status, WebhookDelivery
from messaging_platform.errors import DomainError
from workspaces.audit.services import audit_record
from workspaces.models import Workspace

from .models import RetentionPolicy

MASK = "****"
# Raw carrier payload fields that hold the content (Twilio's Body, MediaUrl0…, Telnyx's text, …).
CONTENT_PARAM_PREFIXES = ("Body", "MediaUrl", "MediaContentType", "text", "media")
REDACTABLE = [*FINAL_STATUSES, Status.RECEIVED]


def mask(number: str) -> str:
    return number[:-4] + MASK if len(number) > 6 and not number.endswith(MASK) else number


def policy_of(workspace: Workspace) -> RetentionPolicy:
    return RetentionPolicy.objects.for_workspace(workspace).first() or RetentionPolicy(workspace=workspace)


@transaction.atomic
def retention_set(
    *, workspace: Workspace, body_retention_days: int | None, mask_numbers: bool
) -> RetentionPolicy:
    policy = policy_of(workspace)
    policy.body_retention_days, policy.mask_numbers = body_retention_days, mask_numbers
    policy.save()
    audit_record(
        workspace,
        "workspace.retention_changed",
        workspace,
        body_retention_days=body_retention_days,
        mask_numbers=mask_numbers,
    )
    return policy


def _redact_rows(messages: list[Message], *, mask_numbers: bool) -> None:
    """Within the caller's transaction: clear the content of these messages everywhere."""
    for message in messages:
        message.body, message.media_urls = "", []
        if mask_numbers:
            if message.direction == "outbound":
                message.to_number = mask(message.to_number)
            else:
                message.from_number = mask(message.from_number)
    Message.objects.bulk_update(messages, ["body", "media_urls", "to_number", "from_number"])
    ids = [m.pk for m in messages]
    events = list(CarrierEvent.objects.filter(message_id__in=ids))
    for event in events:
        event.params = {k: v for k, v in event.params.items() if not k.startswith(CONTENT_PARAM_PREFIXES)}
    CarrierEvent.objects.bulk_update(events, ["params"])
    deliveries = list(WebhookDelivery.objects.filter(message_id__in=ids))
    for delivery in deliveries:
        data = (delivery.payload or {}).get("data")  # the message object, as the API shows it
        if isinstance(data, dict) and "body" in data:
            data.update(body="", media_urls=[])
    WebhookDelivery.objects.bulk_update(deliveries, ["payload"])


@transaction.atomic
def message_redact(*, message: Message) -> Message:
    """Remove a message's body and media now (on the workspace's request). Only once it is done
    moving: a message still to be sent would go out empty."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.status not in REDACTABLE:
        raise DomainError(
            "message_not_final",
            "Only a message that is done moving (delivered, failed, received, …) can be redacted.",
        )
    _redact_rows([message], mask_numbers=policy_of(message.workspace).mask_numbers)
    return message


def _due(policy: RetentionPolicy, now) -> "Q":
    # Only the policies with a retention period are swept.
    cutoff = now - timedelta(days=cast(int, policy.body_retention_days))
    content = ~Q(body="") | ~Q(media_urls=[])
    return Q(workspace_id=policy.workspace_id, created_at__lt=cutoff, status__in=REDACTABLE) & content


def apply_retention(*, now=None, batch_size: int | None = None) -> int:
    """Redact every message past its workspace's retention, a batch per transaction."""
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    redacted = 0
    for policy in RetentionPolicy.objects.filter(body_retention_days__isnull=False):
        while True:
            with transaction.atomic():
                batch = list(
                    Message.objects.filter(_due(policy, now))
                    .select_for_update(skip_locked=True)
                    .order_by("created_at")[:batch_size]
                )
                if batch:
                    _redact_rows(batch, mask_numbers=policy.mask_numbers)
            redacted += len(batch)
            if len(batch) < batch_size:
                break
    return redacted
