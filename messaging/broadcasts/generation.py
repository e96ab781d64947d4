"""The workers that make a broadcast's messages: slice after slice, batch after batch, each batch
one transaction with its slice's cursor, stored by the send service's rules at bulk cost."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging_platform.errors import DomainError
from numbers import routing
from workspaces.models import Workspace

from .. import events
from ..broadcast_store import Outgoing, broadcast_messages_store
from ..enqueue import enqueue_many
from ..models import Broadcast, BroadcastSlice, BroadcastStatus, Status
from ..segments import count_segments
from ..sending import Sender, SendRequest, message_send_many, resolve_sender, send_context
from .delivery_hold import DeliveryHold
from .ending import _complete_if_done
from .quiet_hours import _release_times
from .reading import _progress_due, _publish, audience_contacts
from .rendering import MAX_SKIPPED_KEPT, _Renderer, _Skip


def broadcast_generate(*, broadcast_id: str) -> None:
    """Turn the broadcast's audience into messages, batch after batch of whichever slice no other
    worker holds, until none is left; the worker that finds every slice done says so. Delivery
    yields meanwhile (delivery_hold)."""
    hold = DeliveryHold()
    try:
        hold.renew()
        while (outcome := _generate_batch(broadcast_id)) == _MORE:
            hold.renew()
        if outcome == _NO_FREE_SLICE:
            _finish_generating(broadcast_id)
    finally:
        hold.release()


_MORE, _NO_FREE_SLICE, _STOPPED = "more", "no free slice", "stopped"


def _lock_while_making(broadcast_id: str) -> Broadcast | None:
    """The broadcast, locked against a cancel until this batch commits: FOR KEY SHARE lets the
    batches of other slices run and update its counters alongside, but not a cancel (FOR UPDATE),
    so no message of this batch is stored after the cancel swept the unsent ones."""
    if connection.vendor != "postgresql":
        return Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
    table = connection.ops.quote_name(Broadcast._meta.db_table)
    found = list(
        Broadcast.objects.raw(
            f"SELECT * FROM {table} WHERE id = %s FOR KEY SHARE",  # noqa: S608
            [broadcast_id],
        )
    )
    return found[0] if found else None


@transaction.atomic
def _generate_batch(broadcast_id: str) -> str:
    """One batch of one slice; answers _MORE, _NO_FREE_SLICE or _STOPPED (canceled, gone)."""
    broadcast = _lock_while_making(broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.SENDING or broadcast.generated:
        return _STOPPED
    part = (
        BroadcastSlice.objects.select_for_update(skip_locked=True)
        .filter(broadcast_id=broadcast_id, done=False)
        .order_by("seq")
        .first()
    )
    if part is None:
        return _NO_FREE_SLICE
    workspace = Workspace.objects.get(pk=broadcast.workspace_id)
    size = settings.BROADCAST_BATCH_CONTACTS
    contacts = audience_contacts(broadcast.workspace_id, broadcast.audience).filter(pk__gt=part.cursor)
    if part.last:
        contacts = contacts.filter(pk__lte=part.last)
    render = _Renderer(broadcast.body)
    rows = list(render.rows(contacts)[:size])

    now = timezone.now()
    release = (
        _release_times(now, broadcast.quiet_hours, workspace.timezone) if broadcast.quiet_hours else None
    )
    opted_out = 0
    skipped: list[dict] = []
    outgoing: list[Outgoing] = []
    for row in rows:
        try:
            text = render(row)
        except _Skip as skip:
            if skip.opted_out:
                opted_out += 1
            else:
                skipped.append({"contact_id": row[0], "reason": str(skip)})
            continue
        info = count_segments(text)
        outgoing.append(
            Outgoing(
                to=row[1],
                body=text,
                num_segments=max(1, info.num_segments),
                encoding=info.encoding,
                scheduled_at=release(row[1]) if release else None,
            )
        )
    if outgoing:
        raced, refused = _store(broadcast, workspace, outgoing, now)
        opted_out += raced
        skipped += refused

    if rows:
        part.cursor = rows[-1][0]
    part.done = len(rows) < size or (bool(part.last) and part.cursor == part.last)
    part.save(update_fields=["cursor", "done"])
    _count_skipped(broadcast, opted_out, skipped)
    if _progress_due(broadcast.id):
        _publish(broadcast)
    return _MORE


def _store(
    broadcast: Broadcast, workspace: Workspace, outgoing: list[Outgoing], now: datetime
) -> tuple[int, list[dict]]:
    """Store a batch's messages by the send service's rules; answers how many recipients turned
    out opted out, and the messages refused, with why (the sender or the account is gone)."""
    expires_at = now + timedelta(seconds=broadcast.validity_period) if broadcast.validity_period else None
    if connection.vendor != "postgresql":
        return _store_through_send_service(broadcast, workspace, outgoing, expires_at)
    context = send_context(workspace=workspace)
    if context.account is None:
        return 0, [
            {"phone_number": o.to, "reason": "This workspace has no carrier account."} for o in outgoing
        ]
    # Each recipient's sender as a single send would have it (a route may choose by destination);
    # the batch is stored in one statement per distinct sender.
    # resolve_sender is asked once per route, not per recipient: each ask reads the credentials
    # token, a round trip.
    by_sender: dict[tuple, tuple[Sender, list[Outgoing]]] = {}
    refused = []
    from_number = broadcast.from_number or None
    by_rule: dict[str | None, Sender | DomainError] = {}
    for o in outgoing:
        rule = routing.matching_rule(context.rules, o.to) if context.rules and not from_number else None
        rule_id = rule.id if rule else None
        if rule_id not in by_rule:
            try:
                by_rule[rule_id] = resolve_sender(
                    workspace=workspace,
                    account=context.account,
                    from_number=from_number,
                    is_mms=False,
                    to=o.to,
                )
            except DomainError as exc:
                by_rule[rule_id] = exc
        sender = by_rule[rule_id]
        if isinstance(sender, DomainError):
            refused.append({"phone_number": o.to, "reason": str(sender.detail)})
            continue
        key = (
            sender.number.pk if sender.number else None,
            sender.messaging_service_sid,
            sender.account_id,
            sender.fallback_id,
        )
        by_sender.setdefault(key, (sender, []))[1].append(o)
    stored = []
    for sender, group in by_sender.values():
        stored += broadcast_messages_store(
            workspace_id=workspace.pk,
            broadcast_id=broadcast.pk,
            sender=sender,
            expires_at=expires_at,
            sent_by_id=broadcast.created_by_id,
            now=now,
            outgoing=group,
        )
    # As the send service does: published before the sends are enqueued (on_commit keeps the order).
    events.messages_created(stored, workspace.pk)
    queued = [m.id for m in stored if m.status == Status.QUEUED]
    if queued:
        transaction.on_commit(lambda: enqueue_many(queued))
    return len(outgoing) - len(refused) - len(stored), refused


def _store_through_send_service(
    broadcast: Broadcast, workspace: Workspace, outgoing: list[Outgoing], expires_at: datetime | None
) -> tuple[int, list[dict]]:
    """The same through the send service's ORM path (SQLite: the embedded default)."""
    requests = [
        SendRequest(
            to=o.to,
            body=o.body,
            from_number=broadcast.from_number or None,
            scheduled_at=o.scheduled_at,
            expires_at=expires_at,
            broadcast_id=broadcast.id,
        )
        for o in outgoing
    ]
    try:
        results = message_send_many(workspace=workspace, requests=requests, sent_by=broadcast.created_by)
    except DomainError as exc:  # the carrier account is gone: nothing more can go
        results = [exc] * len(requests)
    opted_out, refused = 0, []
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, DomainError):
            if result.code == "recipient_opted_out":
                opted_out += 1
            else:
                refused.append({"phone_number": request.to, "reason": str(result.detail)})
    return opted_out, refused


def _count_skipped(broadcast: Broadcast, opted_out: int, skipped: list[dict]) -> None:
    """Add a batch's skipped contacts to the broadcast's counts (other slices add theirs alongside:
    increments, not the values this batch read), listing the first MAX_SKIPPED_KEPT.

    The same update is the making's heartbeat (`updated_at`, which the sweep reads to resume a
    broadcast a worker left): a batch with nothing to add renews it only when it is a quarter of
    BROADCAST_STALL_SECONDS old. Updating the row every batch would have each batch wait, at its
    end, for the row lock another slice's batch holds until its commit (the deferred foreign-key
    checks of its thousands of messages)."""
    now = timezone.now()
    fresh = now - timedelta(seconds=settings.BROADCAST_STALL_SECONDS / 4)
    if not opted_out and not skipped and broadcast.updated_at > fresh:
        return
    changes = {
        "skipped_opted_out": F("skipped_opted_out") + opted_out,
        "skipped_invalid": F("skipped_invalid") + len(skipped),
        "updated_at": now,
    }
    if skipped:
        kept = (
            Broadcast.objects.select_for_update(no_key=True)
            .filter(pk=broadcast.pk)
            .values_list("skipped", flat=True)
            .get()
        )
        if len(kept) < MAX_SKIPPED_KEPT:
            changes["skipped"] = kept + skipped[: MAX_SKIPPED_KEPT - len(kept)]
    Broadcast.objects.filter(pk=broadcast.pk).update(**changes)


@transaction.atomic
def _finish_generating(broadcast_id: str) -> None:
    """Every slice is done: the broadcast is generated (and maybe completed already). Only the
    worker that flips `generated` tells it."""
    if BroadcastSlice.objects.filter(broadcast_id=broadcast_id, done=False).exists():
        return  # another worker is on the last batches
    if not Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING, generated=False).update(
        generated=True, updated_at=timezone.now()
    ):
        return
    broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
    _complete_if_done(broadcast)
    _publish(broadcast)
