"""How a broadcast ends: completed once every message reached its end (told by the sweep and by
the events of its messages), or canceled; and the sweep that also starts scheduled broadcasts and
resumes stalled ones."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging_platform.errors import DomainError

from .. import events
from ..enqueue import enqueue_broadcast
from ..lifecycle import messages_cancel
from ..models import Broadcast, BroadcastStatus, Message, Status
from .making import _begin
from .reading import _progress_due, _publish

# Statuses from which a message may still move: a broadcast with none left is completed.
UNFINISHED_STATUSES = (Status.SCHEDULED, Status.QUEUED, Status.SENDING, Status.SENT)


def _complete_if_done(broadcast: Broadcast) -> bool:
    if broadcast.status != BroadcastStatus.SENDING or not broadcast.generated:
        return False
    if Message.objects.filter(broadcast=broadcast, status__in=UNFINISHED_STATUSES).exists():
        return False
    broadcast.status = BroadcastStatus.COMPLETED
    broadcast.completed_at = timezone.now()
    broadcast.save(update_fields=["status", "completed_at", "updated_at"])
    return True


def broadcasts_sweep() -> dict[str, int]:
    """Start scheduled broadcasts that are due, resume ones a worker left half made, and mark
    completed the ones whose every message reached its end."""
    now = timezone.now()
    counts = {"started": 0, "resumed": 0, "completed": 0}
    for broadcast_id in Broadcast.objects.filter(
        status=BroadcastStatus.SCHEDULED, scheduled_at__lte=now
    ).values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
            if broadcast.status == BroadcastStatus.SCHEDULED:
                _begin(broadcast)
                _publish(broadcast)
                counts["started"] += 1
    stalled = now - timedelta(seconds=settings.BROADCAST_STALL_SECONDS)
    for broadcast_id in Broadcast.objects.filter(
        status=BroadcastStatus.SENDING, generated=False, updated_at__lt=stalled
    ).values_list("pk", flat=True)[:100]:
        Broadcast.objects.filter(pk=broadcast_id).update(updated_at=now)
        enqueue_broadcast(broadcast_id)
        counts["resumed"] += 1
    for broadcast in Broadcast.objects.filter(status=BroadcastStatus.SENDING, generated=True)[:100]:
        with transaction.atomic():
            if _complete_if_done(broadcast):
                _publish(broadcast)
                counts["completed"] += 1
    return counts


# Cancel ----------------------------------------------------------------------------------------


@transaction.atomic
def broadcast_cancel(*, broadcast: Broadcast, source: str = "api") -> Broadcast:
    """Stop a broadcast: no more messages are made, and its unsent ones end `canceled`; messages
    the carrier has are not recalled."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status in (BroadcastStatus.COMPLETED, BroadcastStatus.CANCELED):
        raise DomainError("not_cancelable", f"This broadcast is {locked.status} already.")
    locked.status = BroadcastStatus.CANCELED
    locked.canceled_at = timezone.now()
    locked.save(update_fields=["status", "canceled_at", "updated_at"])
    unsent = Message.objects.filter(broadcast=locked, status__in=[Status.QUEUED, Status.SCHEDULED])
    while ids := list(unsent.values_list("pk", flat=True)[:1000]):
        messages_cancel(
            message_ids=ids,
            source=source,
            statuses=(Status.QUEUED, Status.SCHEDULED),
            reason="The broadcast was canceled.",
        )
    _publish(locked)
    broadcast.__dict__.update(locked.__dict__)
    return locked


def on_platform_events(workspace_id: str, published: list[dict]) -> None:
    """The EVENT_SINKS entry: as a broadcast's messages move, tell its watchers its counts (at
    most once a second per broadcast) and mark it completed once every message reached its end."""
    ids = {
        e["data"].get("broadcast_id")
        for e in published
        if e.get("type") == events.MESSAGE_UPDATED and isinstance(e.get("data"), dict)
    }
    ids.discard(None)
    for broadcast_id in ids:
        broadcast = Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).first()
        if broadcast is None:
            continue
        with transaction.atomic():
            done = _complete_if_done(broadcast)
        if done or _progress_due(broadcast_id):
            _publish(broadcast)
