"""Reading broadcasts and telling of them: the list, one by id, where its messages are (counts), the
contacts its audience names, the API object and the `broadcast.updated` event."""

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, QuerySet

from messaging_platform.ids import new_id
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .. import contacts, events
from ..models import Broadcast, Contact, Message, Status

logger = logging.getLogger(__name__)

BROADCAST_UPDATED = "broadcast.updated"
PROGRESS_INTERVAL_SECONDS = 1  # at most one `broadcast.updated` a second while it goes
COUNTS_CACHE_SECONDS = 1


def broadcast_list(*, workspace: Workspace) -> QuerySet[Broadcast]:
    return Broadcast.objects.for_workspace(workspace).order_by("-created_at", "-id")


def access_broadcast(*, workspace: Workspace, broadcast_id: str) -> Broadcast:
    return in_workspace(
        Broadcast.objects, workspace=workspace, pk=broadcast_id, missing="Broadcast not found."
    )


def _counts_key(broadcast_id: str) -> str:
    return f"broadcast-counts:{broadcast_id}"


def _messages_by_status(broadcast: Broadcast, *, fresh: bool) -> dict[str, int]:
    """How many of the broadcast's messages are in each status. Counting is a scan of its
    messages (about 30 ms at 100,000), so reads share one count for COUNTS_CACHE_SECONDS; what
    changes a broadcast itself (a batch made, a cancel, completion) counts afresh."""
    key = _counts_key(broadcast.pk)
    if not fresh:
        try:
            cached = cache.get(key)
        except Exception:
            cached = None
        if cached is not None:
            return cached
    by_status = dict(
        Message.objects.filter(broadcast=broadcast)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    try:
        cache.set(key, by_status, COUNTS_CACHE_SECONDS)
    except Exception:
        logger.warning("Cache unavailable: broadcast counts not shared")
    return by_status


def broadcast_counts(broadcast: Broadcast, *, fresh: bool = False) -> dict[str, int]:
    """Where the broadcast's messages are now (at most COUNTS_CACHE_SECONDS old unless `fresh`),
    and the contacts it skipped."""
    by_status = _messages_by_status(broadcast, fresh=fresh)
    return {
        "total": broadcast.total,
        "queued": sum(by_status.get(s, 0) for s in (Status.SCHEDULED, Status.QUEUED, Status.SENDING)),
        "sent": by_status.get(Status.SENT, 0),
        "delivered": by_status.get(Status.DELIVERED, 0),
        "failed": by_status.get(Status.FAILED, 0),
        "undelivered": by_status.get(Status.UNDELIVERED, 0),
        "canceled": by_status.get(Status.CANCELED, 0),
        "skipped_opted_out": broadcast.skipped_opted_out,
        "skipped_invalid": broadcast.skipped_invalid,
    }


def _audience(workspace_id: str, audience: dict) -> QuerySet[Contact]:
    found = Contact.objects.filter(workspace_id=workspace_id)
    if audience.get("all"):
        pass
    elif "tags" in audience:
        match = None
        for tag in audience["tags"]:
            q = contacts.has_tag(tag)
            match = q if match is None else match | q
        found = found.filter(match)
    else:
        found = found.filter(pk__in=audience["contact_ids"])
    return found


def audience_contacts(workspace_id: str, audience: dict) -> QuerySet[Contact]:
    """The contacts an audience names, opted-out ones included (annotated), in id order."""
    return contacts.with_opt_out(_audience(workspace_id, audience)).order_by("id")


# Telling ---------------------------------------------------------------------------------------


def broadcast_data(broadcast: Broadcast, *, fresh: bool = False) -> dict:
    """The broadcast object of the API and the `broadcast.updated` event; its counts counted now
    with `fresh` (after a change), else maybe a second old (broadcast_counts)."""

    def moment(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": broadcast.id,
        "name": broadcast.name,
        "status": broadcast.status,
        "template_id": broadcast.template_id,
        "body": broadcast.body,
        "audience": broadcast.audience,
        "from": broadcast.from_number or None,
        "scheduled_at": moment(broadcast.scheduled_at),
        "quiet_hours": broadcast.quiet_hours,
        "validity_period": broadcast.validity_period,
        "counts": broadcast_counts(broadcast, fresh=fresh),
        "skipped": broadcast.skipped,
        "created_at": moment(broadcast.created_at),
        "started_at": moment(broadcast.started_at),
        "completed_at": moment(broadcast.completed_at),
        "canceled_at": moment(broadcast.canceled_at),
    }


def _progress_due(broadcast_id: str) -> bool:
    """At most one progress event a second per broadcast, across workers."""
    try:
        return bool(cache.add(f"broadcast-progress:{broadcast_id}", 1, PROGRESS_INTERVAL_SECONDS))
    except Exception:
        return True


def _publish(broadcast: Broadcast) -> None:
    def publish() -> None:
        fresh = Broadcast.objects.filter(pk=broadcast.pk).first()
        if fresh is not None:
            events.publish_event(
                fresh.workspace_id,
                {"id": new_id("evt"), "type": BROADCAST_UPDATED, "data": broadcast_data(fresh, fresh=True)},
            )

    transaction.on_commit(publish)
