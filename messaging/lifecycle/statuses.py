"""Carrier statuses: callbacks, receipts and look-ups, applied in order, never backwards."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from django.db import connection, transaction
from django.utils import timezone

from ..models import FINAL_STATUSES, Message, Status
from .outcomes import (
    STATUS_RANK,
    StatusOutcome,
    StatusReport,
)
from .sql import (
    _COLUMNS,
    _TABLE,
    _in_list,
    _messages_of,
    _update_from_values,
)
from .writes import _events, _tell


def _order(report: StatusReport) -> int:
    return STATUS_RANK.get(report.status, -1)


@transaction.atomic(savepoint=False)
def messages_apply_statuses(reports: Sequence[StatusReport], *, source: str = "carrier") -> StatusOutcome:
    """Apply statuses the carrier reported, many messages at once: each message takes its reports
    in status order, skipping duplicates and anything not ahead of where it is."""
    outcome = StatusOutcome()
    if not reports:
        return outcome
    ids = sorted({r.message_id for r in reports})
    # Locked in id order, so two batches touching the same messages cannot deadlock.
    locked = {m.id: m for m in _locked(ids)}
    claimed_sids = _sids_held_elsewhere(reports, locked)
    by_message: dict[str, list[tuple[int, StatusReport]]] = defaultdict(list)
    for index, report in enumerate(reports):
        by_message[report.message_id].append((index, report))
    now = timezone.now()
    changed: list[Message] = []
    new_events: list[tuple[Message, dict[str, Any]]] = []
    for message_id, indexed in by_message.items():
        message = locked.get(message_id)
        if message is None:
            outcome.refused.update({i: f"No message {message_id}." for i, _ in indexed})
            continue
        before = (message.status, message.provider_sid)
        moved = False
        for index, report in sorted(indexed, key=lambda pair: _order(pair[1])):
            refusal = _refusal(message, report, claimed_sids)
            if refusal:
                outcome.refused[index] = refusal
                continue
            if report.provider_sid and not message.provider_sid:
                message.provider_sid = report.provider_sid
            if _advance(message, report, now):
                moved = True
                new_events.append(
                    (
                        message,
                        {
                            "status": report.status,
                            "source": source,
                            "error_code": report.error_code,
                            "error_message": report.error_message,
                        },
                    )
                )
        if (message.status, message.provider_sid) != before:
            message.updated_at = now
            changed.append(message)
        if moved:
            outcome.moved.append(message)
    _write_statuses(changed)
    _events(new_events)
    moved_ids = {m.id for m in outcome.moved}
    _tell(outcome.moved, callbacks=True)
    _tell([m for m in changed if m.id not in moved_ids], callbacks=False)
    return outcome


def _locked(ids: Sequence[str]) -> list[Message]:
    """The messages, locked for this transaction."""
    if connection.vendor == "postgresql":
        wanted, params = "SELECT json_array_elements_text(%s::json)", [orjson.dumps(list(ids)).decode()]
    else:
        wanted, params = _in_list(ids), list(ids)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id IN ({wanted}) "  # noqa: S608
            f"ORDER BY id{lock}",
            params,
        )
        return _messages_of(cursor.fetchall())


def _sids_held_elsewhere(reports: Sequence[StatusReport], locked: dict[str, Message]) -> dict[str, str]:
    """Carrier sids that reports would give to a message lacking one, and which message holds
    each already."""
    wanted = {
        r.provider_sid
        for r in reports
        if r.provider_sid and r.message_id in locked and not locked[r.message_id].provider_sid
    }
    if not wanted:
        return {}
    # Not null: filtered by the sids.
    return cast(
        "dict[str, str]",
        dict(Message.objects.filter(provider_sid__in=wanted).values_list("provider_sid", "pk")),
    )


def _refusal(message: Message, report: StatusReport, claimed_sids: dict[str, str]) -> str | None:
    if report.provider_sid and message.provider_sid and report.provider_sid != message.provider_sid:
        return (
            f"The callback's carrier sid {report.provider_sid} is not the sid of "
            f"{message.id} ({message.provider_sid})."
        )
    holder = claimed_sids.get(report.provider_sid or "")
    if holder and holder != message.id:
        return f"The callback's carrier sid {report.provider_sid} belongs to another message."
    if message.status == Status.SCHEDULED:
        return f"{message.id} is scheduled: it was never handed to the carrier."
    if report.status not in STATUS_RANK:
        return f"Unknown status {report.status!r}."
    return None


def _advance(message: Message, report: StatusReport, now: datetime) -> bool:
    status = report.status
    if message.status in FINAL_STATUSES or STATUS_RANK[status] <= STATUS_RANK[message.status]:
        return False
    message.status = status
    message.next_attempt_at = None
    if status == Status.SENT or status in FINAL_STATUSES:
        message.sent_at = message.sent_at or now
    if status == Status.DELIVERED:
        message.delivered_at = now
    if status in (Status.FAILED, Status.UNDELIVERED):
        message.error_code = report.error_code
        message.error_message = report.error_message
    return True


def _write_statuses(messages: Sequence[Message]) -> None:
    """One UPDATE for the locked messages whose status (or sid) changed in Python."""
    _update_from_values(
        columns=[
            ("id", "text"),
            ("status", "text"),
            ("sid", "text"),
            ("sent", "ts"),
            ("delivered", "ts"),
            ("code", "text"),
            ("reason", "text"),
            ("next", "ts"),
            ("updated", "ts"),
        ],
        rows=[
            (
                m.id,
                m.status,
                m.provider_sid,
                m.sent_at,
                m.delivered_at,
                m.error_code,
                m.error_message,
                m.next_attempt_at,
                m.updated_at,
            )
            for m in messages
        ],
        set_sql="status = v.v_status, provider_sid = v.v_sid, sent_at = v.v_sent, "
        "delivered_at = v.v_delivered, error_code = v.v_code, error_message = v.v_reason, "
        "next_attempt_at = v.v_next, updated_at = v.v_updated",
        returning=False,  # the locked rows, changed in Python, are what the caller tells
    )
