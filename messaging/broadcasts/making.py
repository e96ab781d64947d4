"""Making a broadcast: checking what it is given (audience, body, sender, schedule, quiet hours,
validity), and starting it: its audience counted and cut into slices, workers enqueued."""

import re
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from messaging_platform.errors import DomainError, invalid_params
from numbers.selectors import require_provider_account
from workspaces.models import Workspace

from .. import contacts, message_templates
from ..enqueue import enqueue_broadcast
from ..models import Broadcast, BroadcastSlice, BroadcastStatus, Contact
from ..send_limits import MAX_SCHEDULE_AHEAD
from ..sending import resolve_sender
from .reading import _audience, _publish

MAX_CONTACT_IDS = 10_000
MAX_VALIDITY_SECONDS = 14 * 24 * 3600
HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


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
