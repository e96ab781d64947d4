"""Broadcasts: one message to many contacts, rendered per contact, respecting consent, quiet hours,
validity and each sender's pace.

A broadcast is made (draft, scheduled or started at once), then a worker turns its audience into
messages in batches of contacts, in contact id order, through the same send service as a single
send (`sending.message_send_many`): the same rules, pacing, carriers and events. Each batch is one
transaction with the broadcast's cursor, so a worker killed mid-broadcast resumes after the last
committed batch and no contact gets the message twice. Quiet hours hold a message as `scheduled`
until the recipient's local morning; the sweep releases it then like any scheduled message.
"""

import logging
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from phonenumbers import timezone as phone_timezones

from messaging_platform.api.errors import ApiError, invalid_params
from numbers.selectors import require_provider_account
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from . import contacts, events, message_templates, templating
from .models import (
    FINAL_STATUSES,
    Broadcast,
    BroadcastStatus,
    Contact,
    Message,
    MessageEvent,
    Status,
)
from .sending import SendRequest, message_send_many, resolve_sender

logger = logging.getLogger(__name__)

MAX_CONTACT_IDS = 10_000
MAX_SKIPPED_KEPT = 100
MAX_VALIDITY_SECONDS = 14 * 24 * 3600
MAX_SCHEDULE_AHEAD = timedelta(days=35)
SAMPLE_RENDERINGS = 5
HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
BROADCAST_UPDATED = "broadcast.updated"


# Reading ---------------------------------------------------------------------------------------


def broadcast_list(*, workspace: Workspace) -> QuerySet[Broadcast]:
    return Broadcast.objects.for_workspace(workspace).order_by("-created_at", "-id")


def access_broadcast(*, workspace: Workspace, broadcast_id: str) -> Broadcast:
    return in_workspace(Broadcast.objects, workspace=workspace, pk=broadcast_id,
                        missing="Broadcast not found.")


def broadcast_counts(broadcast: Broadcast) -> dict[str, int]:
    """Where the broadcast's messages are now, and the contacts it skipped."""
    by_status = dict(Message.objects.filter(broadcast=broadcast).values_list("status")
                     .annotate(n=Count("id")).values_list("status", "n"))
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


def audience_contacts(workspace_id: str, audience: dict) -> QuerySet[Contact]:
    """The contacts an audience names, opted-out ones included (annotated), in id order."""
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
    return contacts.with_opt_out(found).order_by("id")


# Making one ------------------------------------------------------------------------------------


def _clean_audience(workspace: Workspace, raw) -> dict:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("tags", "contact_ids", "all"):
        raise invalid_params('audience must be one of {"tags": [...]}, {"contact_ids": [...]} or '
                             '{"all": true}.', {"audience": ["Pick tags, contact_ids or all."]})
    if "all" in raw:
        if raw["all"] is not True:
            raise invalid_params("audience.all must be true.", {"audience": ["all must be true."]})
        return {"all": True}
    if "tags" in raw:
        if not isinstance(raw["tags"], list) or not raw["tags"]:
            raise invalid_params("audience.tags must be a list of tags.", {"audience": ["A list of tags."]})
        return {"tags": contacts.clean_tags(raw["tags"])}
    ids = raw["contact_ids"]
    if (not isinstance(ids, list) or not ids or len(ids) > MAX_CONTACT_IDS
            or not all(isinstance(i, str) for i in ids)):
        raise invalid_params(f"audience.contact_ids must be a list of up to {MAX_CONTACT_IDS:,} ids.",
                             {"audience": ["A list of contact ids."]})
    ids = list(dict.fromkeys(ids))  # a contact named twice gets one message
    known = set(Contact.objects.for_workspace(workspace).filter(pk__in=ids).values_list("pk", flat=True))
    if unknown := [i for i in ids if i not in known]:
        raise invalid_params(f"No contact {unknown[0][:40]} in this workspace.",
                             {"audience": ["Unknown contact id."]})
    return {"contact_ids": ids}


def _clean_quiet_hours(raw) -> dict | None:
    if raw is None:
        return None
    if (not isinstance(raw, dict) or set(raw) != {"start", "end"}
            or not all(isinstance(v, str) and HH_MM.fullmatch(v) for v in raw.values())
            or raw["start"] == raw["end"]):
        raise invalid_params('quiet_hours must be {"start": "HH:MM", "end": "HH:MM"}, two different times.',
                             {"quiet_hours": ['For example {"start": "21:00", "end": "08:00"}.']})
    return {"start": raw["start"], "end": raw["end"]}


def clean_validity_period(raw) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_VALIDITY_SECONDS:
        raise invalid_params("validity_period must be a whole number of seconds, 1 to "
                             f"{MAX_VALIDITY_SECONDS}.",
                             {"validity_period": ["Seconds, at most 14 days."]})
    return raw


def _clean_schedule(raw) -> datetime | None:
    if raw is None:
        return None
    moment = None
    if isinstance(raw, str):
        try:
            from django.utils.dateparse import parse_datetime

            moment = parse_datetime(raw)
        except ValueError:
            moment = None
    if moment is None or timezone.is_naive(moment):
        raise invalid_params("scheduled_at must be an ISO 8601 date-time with a zone.",
                             {"scheduled_at": ["For example 2026-01-15T10:30:00Z."]})
    now = timezone.now()
    if moment <= now or moment > now + MAX_SCHEDULE_AHEAD:
        raise invalid_params("scheduled_at must be in the future and at most 35 days ahead.",
                             {"scheduled_at": ["In the future, at most 35 days ahead."]})
    return moment.astimezone(UTC)


@transaction.atomic
def broadcast_create(*, workspace: Workspace, name, audience, body=None, template_id=None,
                     from_number=None, scheduled_at=None, quiet_hours=None, validity_period=None,
                     draft: bool = False, created_by=None) -> Broadcast:
    """Make a broadcast, checked whole (audience, body, sender, carrier account), and start it
    (or schedule it) unless it is a draft."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise invalid_params("name is required, at most 200 characters.", {"name": ["Required."]})
    template = None
    if template_id is not None:
        if body is not None:
            raise invalid_params("Give template_id or body, not both.", {"body": ["Not with template_id."]})
        if not isinstance(template_id, str):
            raise invalid_params("template_id must be a string.", {"template_id": ["Must be a string."]})
        template = message_templates.access_template(workspace=workspace, template_id=template_id)
        body = template.body
    if body is None:
        raise invalid_params("Give template_id or body.", {"body": ["Required without template_id."]})
    body = message_templates.clean_body(body)
    if from_number is not None and not isinstance(from_number, str):
        raise invalid_params("from must be a string.", {"from": ["Must be a string."]})
    account = require_provider_account(workspace=workspace)
    resolve_sender(workspace=workspace, account=account, from_number=from_number or None, is_mms=False)
    broadcast = Broadcast.objects.create(
        workspace=workspace, name=name.strip(), template=template, body=body,
        audience=_clean_audience(workspace, audience), from_number=from_number or "",
        scheduled_at=_clean_schedule(scheduled_at), quiet_hours=_clean_quiet_hours(quiet_hours),
        validity_period=clean_validity_period(validity_period), created_by=created_by)
    if not draft:
        broadcast_start(broadcast=broadcast)
    return broadcast


@transaction.atomic
def broadcast_start(*, broadcast: Broadcast) -> Broadcast:
    """A draft goes out: now, or at its scheduled_at (the sweep starts it then)."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status != BroadcastStatus.DRAFT:
        raise ApiError("not_startable", f"This broadcast is {locked.status} already.", status=409)
    if locked.scheduled_at and locked.scheduled_at > timezone.now():
        locked.status = BroadcastStatus.SCHEDULED
        locked.save(update_fields=["status", "updated_at"])
    else:
        _begin(locked)
    _publish(locked)
    broadcast.__dict__.update(locked.__dict__)
    return locked


def _begin(broadcast: Broadcast) -> None:
    broadcast.status = BroadcastStatus.SENDING
    broadcast.started_at = timezone.now()
    broadcast.total = audience_contacts(broadcast.workspace_id, broadcast.audience).count()
    broadcast.save(update_fields=["status", "started_at", "total", "updated_at"])
    from .tasks import enqueue_broadcast

    transaction.on_commit(lambda: enqueue_broadcast(broadcast.id))


# Preview ---------------------------------------------------------------------------------------


def broadcast_preview(*, broadcast: Broadcast) -> dict:
    """What the broadcast would send now: sample renderings, totals of messages and segments, and
    the contacts it would skip, and why."""
    messages = segments = opted_out = invalid = 0
    samples: list[dict] = []
    skipped: list[dict] = []
    for contact in audience_contacts(broadcast.workspace_id, broadcast.audience).iterator(chunk_size=2000):
        try:
            text = _render(broadcast, contact)
        except _Skip as skip:
            opted_out += skip.opted_out
            invalid += not skip.opted_out
            if len(skipped) < MAX_SKIPPED_KEPT:
                skipped.append({"contact_id": contact.id, "phone_number": contact.phone_number,
                                "reason": str(skip)})
            continue
        messages += 1
        rendering = templating.describe(text)
        segments += rendering.num_segments
        if len(samples) < SAMPLE_RENDERINGS:
            samples.append({"contact_id": contact.id,
                            **message_templates.rendering_data(rendering)})
    return {"messages": messages, "segments": segments, "skipped_opted_out": opted_out,
            "skipped_invalid": invalid, "samples": samples, "skipped": skipped}


def _render(broadcast: Broadcast, contact: Contact) -> str:
    """The contact's text. Raises _Skip when the contact gets none (opted out, a template error)."""
    if contact.opted_out:
        raise _Skip("The contact opted out.", opted_out=True)
    try:
        text = templating.render(broadcast.body, templating.contact_values(contact))
    except templating.TemplateError as exc:
        raise _Skip(str(exc)) from None
    if not text.strip():
        raise _Skip("The message renders empty.")
    return text


class _Skip(Exception):
    def __init__(self, reason: str, *, opted_out: bool = False):
        super().__init__(reason)
        self.opted_out = opted_out


# Quiet hours -----------------------------------------------------------------------------------


_ZONE_BY_PREFIX: dict[tuple[str, str], str] = {}
ZONE_PREFIX_DIGITS = 8  # "+1415555": the country code and area code, which time zone data goes by


def _zone_name(phone_number: str, fallback: str) -> str:
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone_number))
    except phonenumbers.NumberParseException:
        zones = ()
    zones = [z for z in zones if z != phone_timezones.UNKNOWN_TIMEZONE]
    return zones[0] if len(zones) == 1 else fallback


def recipient_zone(phone_number: str, fallback: str) -> ZoneInfo:
    """The recipient's time zone from their number, or `fallback` when the number spans several.

    Time zone data goes by the leading digits (the area code in North America), so the answer is
    kept per prefix: parsing every number of a 100,000-contact broadcast would cost seconds."""
    key = (phone_number[:ZONE_PREFIX_DIGITS], fallback)
    name = _ZONE_BY_PREFIX.get(key)
    if name is None:
        name = _ZONE_BY_PREFIX[key] = _zone_name(phone_number, fallback)
        if len(_ZONE_BY_PREFIX) > 100_000:
            _ZONE_BY_PREFIX.clear()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def release_time(phone_number: str, at: datetime, quiet_hours: dict, fallback: str) -> datetime | None:
    """When a message to `phone_number` may go, if `at` falls in the recipient's quiet hours
    (None if it may go at `at`)."""
    zone = recipient_zone(phone_number, fallback)
    local = at.astimezone(zone)
    start = time(*map(int, quiet_hours["start"].split(":")))
    end = time(*map(int, quiet_hours["end"].split(":")))
    now = local.time()
    overnight = start > end
    quiet = (now >= start or now < end) if overnight else (start <= now < end)
    if not quiet:
        return None
    day = local.date() if (not overnight or now < end) else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


# The worker ------------------------------------------------------------------------------------


def broadcast_generate(*, broadcast_id: str) -> None:
    """Turn the broadcast's audience into messages, a batch of contacts per transaction."""
    while _generate_batch(broadcast_id):
        pass


@transaction.atomic
def _generate_batch(broadcast_id: str) -> bool:
    """One batch; answers whether there may be more."""
    broadcast = (Broadcast.objects.select_for_update(of=("self",), skip_locked=True)
                 .select_related("workspace").filter(pk=broadcast_id).first())
    if broadcast is None or broadcast.status != BroadcastStatus.SENDING or broadcast.generated:
        return False  # another worker has it, or it is done or canceled
    batch = list(audience_contacts(broadcast.workspace_id, broadcast.audience)
                 .filter(pk__gt=broadcast.cursor)[:settings.BROADCAST_BATCH_CONTACTS])
    now = timezone.now()
    expires_at = now + timedelta(seconds=broadcast.validity_period) if broadcast.validity_period else None
    requests: list[SendRequest] = []
    skipped: list[dict] = []
    for contact in batch:
        try:
            text = _render(broadcast, contact)
        except _Skip as skip:
            if skip.opted_out:
                broadcast.skipped_opted_out += 1
            else:
                broadcast.skipped_invalid += 1
                skipped.append({"contact_id": contact.id, "reason": str(skip)})
            continue
        hold = (release_time(contact.phone_number, now, broadcast.quiet_hours, broadcast.workspace.timezone)
                if broadcast.quiet_hours else None)
        requests.append(SendRequest(to=contact.phone_number, body=text,
                                    from_number=broadcast.from_number or None, scheduled_at=hold,
                                    expires_at=expires_at, broadcast_id=broadcast.id))
    if requests:
        try:
            results = message_send_many(workspace=broadcast.workspace, requests=requests,
                                        sent_by=broadcast.created_by)
        except ApiError as exc:  # the carrier account is gone: nothing more can go
            results = [exc] * len(requests)
        for request, result in zip(requests, results, strict=True):
            if isinstance(result, ApiError):
                if result.error_code == "recipient_opted_out":
                    broadcast.skipped_opted_out += 1
                else:
                    broadcast.skipped_invalid += 1
                    skipped.append({"phone_number": request.to, "reason": str(result.detail)})
    room = MAX_SKIPPED_KEPT - len(broadcast.skipped)
    if room > 0 and skipped:
        broadcast.skipped = broadcast.skipped + skipped[:room]
    if batch:
        broadcast.cursor = batch[-1].pk
    more = len(batch) == settings.BROADCAST_BATCH_CONTACTS
    broadcast.generated = not more
    broadcast.save(update_fields=["cursor", "generated", "skipped_opted_out", "skipped_invalid",
                                  "skipped", "updated_at"])
    if not more:
        _complete_if_done(broadcast)
    _publish(broadcast)
    return more


def _complete_if_done(broadcast: Broadcast) -> bool:
    if broadcast.status != BroadcastStatus.SENDING or not broadcast.generated:
        return False
    if Message.objects.filter(broadcast=broadcast).exclude(status__in=FINAL_STATUSES).exists():
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
    for broadcast_id in (Broadcast.objects.filter(status=BroadcastStatus.SCHEDULED, scheduled_at__lte=now)
                         .values_list("pk", flat=True)[:100]):
        with transaction.atomic():
            broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
            if broadcast.status == BroadcastStatus.SCHEDULED:
                _begin(broadcast)
                _publish(broadcast)
                counts["started"] += 1
    stalled = now - timedelta(seconds=settings.BROADCAST_STALL_SECONDS)
    from .tasks import enqueue_broadcast

    for broadcast_id in (Broadcast.objects.filter(status=BroadcastStatus.SENDING, generated=False,
                                                  updated_at__lt=stalled).values_list("pk", flat=True)[:100]):
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
        raise ApiError("not_cancelable", f"This broadcast is {locked.status} already.", status=409)
    locked.status = BroadcastStatus.CANCELED
    locked.canceled_at = timezone.now()
    locked.save(update_fields=["status", "canceled_at", "updated_at"])
    now = timezone.now()
    unsent = Message.objects.filter(broadcast=locked, status__in=[Status.QUEUED, Status.SCHEDULED])
    while ids := list(unsent.values_list("pk", flat=True)[:1000]):
        canceled = list(Message.objects.filter(pk__in=ids, status__in=[Status.QUEUED, Status.SCHEDULED])
                        .values_list("pk", flat=True))
        Message.objects.filter(pk__in=canceled, status__in=[Status.QUEUED, Status.SCHEDULED]).update(
            status=Status.CANCELED, next_attempt_at=None, updated_at=now)
        MessageEvent.objects.bulk_create([
            MessageEvent(message_id=pk, status=Status.CANCELED, source=source, created_at=now,
                         error_message="The broadcast was canceled.") for pk in canceled])
        for message in Message.objects.filter(pk__in=canceled):
            events.message_updated(message)
    _publish(locked)
    broadcast.__dict__.update(locked.__dict__)
    return locked


# Telling ---------------------------------------------------------------------------------------


def broadcast_data(broadcast: Broadcast) -> dict:
    def moment(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": broadcast.id, "name": broadcast.name, "status": broadcast.status,
        "template_id": broadcast.template_id, "body": broadcast.body, "audience": broadcast.audience,
        "from": broadcast.from_number or None, "scheduled_at": moment(broadcast.scheduled_at),
        "quiet_hours": broadcast.quiet_hours, "validity_period": broadcast.validity_period,
        "counts": broadcast_counts(broadcast), "skipped": broadcast.skipped,
        "created_at": moment(broadcast.created_at), "started_at": moment(broadcast.started_at),
        "completed_at": moment(broadcast.completed_at), "canceled_at": moment(broadcast.canceled_at),
    }


PROGRESS_INTERVAL_SECONDS = 1


def on_platform_events(workspace_id: str, published: list[dict]) -> None:
    """The EVENT_SINKS entry: as a broadcast's messages move, tell its watchers its counts (at
    most once a second per broadcast) and mark it completed once every message reached its end."""
    ids = {e["data"].get("broadcast_id") for e in published
           if e.get("type") == events.MESSAGE_UPDATED and isinstance(e.get("data"), dict)}
    ids.discard(None)
    for broadcast_id in ids:
        broadcast = Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).first()
        if broadcast is None:
            continue
        with transaction.atomic():
            done = _complete_if_done(broadcast)
        if done or cache.add(f"broadcast-progress:{broadcast_id}", 1, PROGRESS_INTERVAL_SECONDS):
            _publish(broadcast)


def _publish(broadcast: Broadcast) -> None:
    def publish() -> None:
        from messaging_platform.ids import new_id

        fresh = Broadcast.objects.filter(pk=broadcast.pk).first()
        if fresh is not None:
            events.publish_event(fresh.workspace_id, {"id": new_id("evt"), "type": BROADCAST_UPDATED,
                                                      "data": broadcast_data(fresh)})

    transaction.on_commit(publish)
