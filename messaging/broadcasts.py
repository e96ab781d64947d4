"""Broadcasts: one message to many contacts, rendered per contact, respecting consent, quiet hours,
validity and each sender's pace.

A broadcast is made (draft, scheduled or started at once), then workers turn its audience into
messages. The audience is cut into slices in contact id order (BroadcastSlice), so several workers
can make one broadcast; each slice goes batch after batch, each batch one transaction with the
slice's cursor, so a worker killed mid-broadcast resumes after the last committed batch and no
contact gets the message twice. A batch reads its contacts as plain rows, renders them with the
template compiled once, and on PostgreSQL stores the messages, their conversations and first
events in one statement (messaging/broadcast_store.py): the rules of the send service (sender,
opt-outs checked in that statement, segments, `queued` or `scheduled`) at bulk cost; then the same
`message.created` events and wake-up as any send. Quiet hours hold a message as `scheduled` until
the recipient's local morning; the sweep releases it then like any scheduled message.
"""

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from phonenumbers import timezone as phone_timezones

from messaging_platform.errors import DomainError, invalid_params
from messaging_platform.ids import new_id
from numbers import routing
from numbers.selectors import require_provider_account
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from . import contacts, events, message_templates, templating
from .broadcast_store import Outgoing, broadcast_messages_store
from .enqueue import enqueue_broadcast, enqueue_many
from .lifecycle import messages_cancel
from .models import Broadcast, BroadcastSlice, BroadcastStatus, Contact, Message, Status
from .segments import MAX_BODY_CHARACTERS, count_segments
from .sending import Sender, SendRequest, message_send_many, resolve_sender, send_context

logger = logging.getLogger(__name__)

MAX_CONTACT_IDS = 10_000
MAX_SKIPPED_KEPT = 100
MAX_VALIDITY_SECONDS = 14 * 24 * 3600
MAX_SCHEDULE_AHEAD = timedelta(days=35)
SAMPLE_RENDERINGS = 5
HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
BROADCAST_UPDATED = "broadcast.updated"
PROGRESS_INTERVAL_SECONDS = 1  # at most one `broadcast.updated` a second while it goes
COUNTS_CACHE_SECONDS = 1


# Reading ---------------------------------------------------------------------------------------


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


# Making one ------------------------------------------------------------------------------------


def _clean_audience(workspace: Workspace, raw) -> dict:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("tags", "contact_ids", "all"):
        raise invalid_params(
            'audience must be one of {"tags": [...]}, {"contact_ids": [...]} or {"all": true}.',
            {"audience": ["Pick tags, contact_ids or all."]},
        )
    if "all" in raw:
        if raw["all"] is not True:
            raise invalid_params("audience.all must be true.", {"audience": ["all must be true."]})
        return {"all": True}
    if "tags" in raw:
        if not isinstance(raw["tags"], list) or not raw["tags"]:
            raise invalid_params("audience.tags must be a list of tags.", {"audience": ["A list of tags."]})
        return {"tags": contacts.clean_tags(raw["tags"])}
    ids = raw["contact_ids"]
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_CONTACT_IDS
        or not all(isinstance(i, str) for i in ids)
    ):
        raise invalid_params(
            f"audience.contact_ids must be a list of up to {MAX_CONTACT_IDS:,} ids.",
            {"audience": ["A list of contact ids."]},
        )
    ids = list(dict.fromkeys(ids))  # a contact named twice gets one message
    known = set(Contact.objects.for_workspace(workspace).filter(pk__in=ids).values_list("pk", flat=True))
    if unknown := [i for i in ids if i not in known]:
        raise invalid_params(
            f"No contact {unknown[0][:40]} in this workspace.", {"audience": ["Unknown contact id."]}
        )
    return {"contact_ids": ids}


def _clean_quiet_hours(raw) -> dict | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"start", "end"}
        or not all(isinstance(v, str) and HH_MM.fullmatch(v) for v in raw.values())
        or raw["start"] == raw["end"]
    ):
        raise invalid_params(
            'quiet_hours must be {"start": "HH:MM", "end": "HH:MM"}, two different times.',
            {"quiet_hours": ['For example {"start": "21:00", "end": "08:00"}.']},
        )
    return {"start": raw["start"], "end": raw["end"]}


def clean_validity_period(raw) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_VALIDITY_SECONDS:
        raise invalid_params(
            f"validity_period must be a whole number of seconds, 1 to {MAX_VALIDITY_SECONDS}.",
            {"validity_period": ["Seconds, at most 14 days."]},
        )
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
        raise invalid_params(
            "scheduled_at must be an ISO 8601 date-time with a zone.",
            {"scheduled_at": ["For example 2026-01-15T10:30:00Z."]},
        )
    now = timezone.now()
    if moment <= now or moment > now + MAX_SCHEDULE_AHEAD:
        raise invalid_params(
            "scheduled_at must be in the future and at most 35 days ahead.",
            {"scheduled_at": ["In the future, at most 35 days ahead."]},
        )
    return moment.astimezone(UTC)


@transaction.atomic
def broadcast_create(
    *,
    workspace: Workspace,
    name,
    audience,
    body=None,
    template_id=None,
    from_number=None,
    scheduled_at=None,
    quiet_hours=None,
    validity_period=None,
    draft: bool = False,
    created_by=None,
) -> Broadcast:
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
        workspace=workspace,
        name=name.strip(),
        template=template,
        body=body,
        audience=_clean_audience(workspace, audience),
        from_number=from_number or "",
        scheduled_at=_clean_schedule(scheduled_at),
        quiet_hours=_clean_quiet_hours(quiet_hours),
        validity_period=clean_validity_period(validity_period),
        created_by=created_by,
    )
    if not draft:
        broadcast_start(broadcast=broadcast)
    return broadcast


@transaction.atomic
def broadcast_start(*, broadcast: Broadcast) -> Broadcast:
    """A draft goes out: now, or at its scheduled_at (the sweep starts it then)."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status != BroadcastStatus.DRAFT:
        raise DomainError("not_startable", f"This broadcast is {locked.status} already.")
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
    _plan_slices(broadcast)
    broadcast.save(update_fields=["status", "started_at", "total", "updated_at"])
    workers = min(settings.BROADCAST_WORKERS, broadcast.slices.count())

    def enqueue() -> None:
        for _ in range(workers):
            enqueue_broadcast(broadcast.id)

    transaction.on_commit(enqueue)


# Preview ---------------------------------------------------------------------------------------


def broadcast_preview(*, broadcast: Broadcast) -> dict:
    """What the broadcast would send now: sample renderings, totals of messages and segments, and
    the contacts it would skip, and why."""
    messages = segments = opted_out = invalid = 0
    samples: list[dict] = []
    skipped: list[dict] = []
    render = _Renderer(broadcast.body)
    rows = render.rows(audience_contacts(broadcast.workspace_id, broadcast.audience)).iterator(
        chunk_size=2000
    )
    for row in rows:
        try:
            text = render(row)
        except _Skip as skip:
            opted_out += skip.opted_out
            invalid += not skip.opted_out
            if len(skipped) < MAX_SKIPPED_KEPT:
                skipped.append({"contact_id": row[0], "phone_number": row[1], "reason": str(skip)})
            continue
        messages += 1
        if len(samples) < SAMPLE_RENDERINGS:
            rendering = templating.describe(text)
            segments += rendering.num_segments
            samples.append({"contact_id": row[0], **message_templates.rendering_data(rendering)})
        else:
            segments += count_segments(text).num_segments
    return {
        "messages": messages,
        "segments": segments,
        "skipped_opted_out": opted_out,
        "skipped_invalid": invalid,
        "samples": samples,
        "skipped": skipped,
    }


class _Renderer:
    """A broadcast's body for many contacts: `rows` reads of each contact only what the body uses
    (its id, number, name, whether it opted out, and the fields it names, as text: no JSON
    decoded), and calling it on a row renders it (templating.compile_template's rules)."""

    def __init__(self, body: str):
        self.render = templating.compile_template(body)
        self.fields = [v for v in templating.check_syntax(body) if v not in ("name", "phone_number")]

    def rows(self, contacts: QuerySet[Contact]) -> QuerySet:
        named = {f"field_{i}": KeyTextTransform(name, "fields") for i, name in enumerate(self.fields)}
        return contacts.annotate(**named).values_list("id", "phone_number", "name", "opted_out", *named)

    def __call__(self, row: tuple) -> str:
        """The contact's text. Raises _Skip when the contact gets none (opted out, a template
        error, an empty or too long rendering)."""
        _, phone_number, name, opted_out, *values = row
        if opted_out:
            raise _Skip("The contact opted out.", opted_out=True)
        try:
            text = self.render(name, phone_number, dict(zip(self.fields, values, strict=True)))
        except templating.TemplateError as exc:
            raise _Skip(str(exc)) from None
        if not text.strip():
            raise _Skip("The message renders empty.")
        if len(text) > MAX_BODY_CHARACTERS:
            raise _Skip(f"The message renders longer than {MAX_BODY_CHARACTERS:,} characters.")
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


def _release_in(zone: ZoneInfo, at: datetime, start: time, end: time) -> datetime | None:
    local = at.astimezone(zone)
    now = local.time()
    overnight = start > end
    quiet = (now >= start or now < end) if overnight else (start <= now < end)
    if not quiet:
        return None
    day = local.date() if (not overnight or now < end) else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def _quiet_bounds(quiet_hours: dict) -> tuple[time, time]:
    return (time(*map(int, quiet_hours["start"].split(":"))), time(*map(int, quiet_hours["end"].split(":"))))


def release_time(phone_number: str, at: datetime, quiet_hours: dict, fallback: str) -> datetime | None:
    """When a message to `phone_number` may go, if `at` falls in the recipient's quiet hours
    (None if it may go at `at`)."""
    return _release_in(recipient_zone(phone_number, fallback), at, *_quiet_bounds(quiet_hours))


def _release_times(at: datetime, quiet_hours: dict, fallback: str) -> Callable[[str], datetime | None]:
    """release_time for many numbers at one moment: the answer is the same for a whole zone."""
    start, end = _quiet_bounds(quiet_hours)
    by_zone: dict[str, datetime | None] = {}

    def release(phone_number: str) -> datetime | None:
        zone = recipient_zone(phone_number, fallback)
        if zone.key not in by_zone:
            by_zone[zone.key] = _release_in(zone, at, start, end)
        return by_zone[zone.key]

    return release


# The worker ------------------------------------------------------------------------------------


def _plan_slices(broadcast: Broadcast) -> None:
    """Count the audience and cut it into slices of BROADCAST_SLICE_CONTACTS, in id order."""
    found = _audience(broadcast.workspace_id, broadcast.audience)
    size = settings.BROADCAST_SLICE_CONTACTS
    bounds: list[str] = []
    if connection.vendor == "postgresql":
        sql, params = found.values("id").order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), array_agg(id ORDER BY id) FILTER (WHERE n %% %s = 0) FROM "  # noqa: S608
                f"(SELECT id, row_number() OVER (ORDER BY id) AS n FROM ({sql}) a) s",
                [size, *params],
            )
            broadcast.total, bounds = cursor.fetchone()
        bounds = bounds or []
        if bounds and broadcast.total % size == 0:
            bounds.pop()  # the last contact ends the last slice anyway
    else:
        broadcast.total = found.count()
    edges = ["", *bounds, ""]
    BroadcastSlice.objects.bulk_create(
        [
            BroadcastSlice(
                broadcast=broadcast, seq=seq, after=edges[seq], last=edges[seq + 1], cursor=edges[seq]
            )
            for seq in range(len(edges) - 1)
        ]
    )


def broadcast_generate(*, broadcast_id: str) -> None:
    """Turn the broadcast's audience into messages, batch after batch of whichever slice no other
    worker holds, until none is left; the worker that finds every slice done says so."""
    while (outcome := _generate_batch(broadcast_id)) == _MORE:
        pass
    if outcome == _NO_FREE_SLICE:
        _finish_generating(broadcast_id)


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
    increments, not the values this batch read), listing the first MAX_SKIPPED_KEPT."""
    changes = {
        "skipped_opted_out": F("skipped_opted_out") + opted_out,
        "skipped_invalid": F("skipped_invalid") + len(skipped),
        "updated_at": timezone.now(),
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


def _progress_due(broadcast_id: str) -> bool:
    """At most one progress event a second per broadcast, across workers."""
    try:
        return bool(cache.add(f"broadcast-progress:{broadcast_id}", 1, PROGRESS_INTERVAL_SECONDS))
    except Exception:
        return True


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


def _publish(broadcast: Broadcast) -> None:
    def publish() -> None:
        fresh = Broadcast.objects.filter(pk=broadcast.pk).first()
        if fresh is not None:
            events.publish_event(
                fresh.workspace_id,
                {"id": new_id("evt"), "type": BROADCAST_UPDATED, "data": broadcast_data(fresh, fresh=True)},
            )

    transaction.on_commit(publish)
