"""The messages list's filters, parsed once into typed values: for the API's list, the CSV export and
the messages page alike. A bad value is a DomainError naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from messaging_platform.errors import invalid_params
from numbers.phone import normalize_e164

from .models import Direction, Status

MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True)
class MessageFilters:
    """What narrows the messages list; None (or "") leaves a field out. Moments are in UTC."""

    direction: str = ""
    status: str = ""
    from_number: str = ""
    to_number: str = ""
    created_from: datetime | None = None  # inclusive
    created_through: datetime | None = None  # inclusive (endDate with a time)
    created_before: datetime | None = None  # exclusive (endDate as a day: up to its end)
    conversation_id: str = ""
    search: str = ""
    updated_after: datetime | None = None


def _is_date_only(raw: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) is not None


def _in_utc(moment: datetime) -> datetime:
    # PostgreSQL refuses offsets past ±15:59 that Python accepts (up to ±23:59).
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment.astimezone(UTC)


def _day_start(day: date) -> datetime:
    return _in_utc(datetime.combine(day, time.min))


def _day_after(name: str, day: date) -> datetime:
    try:
        return _day_start(day + timedelta(days=1))
    except OverflowError:  # 9999-12-31
        raise invalid_params(
            f"{name} must be an ISO 8601 date or date-time.",
            {name: ["Use ISO 8601, for example 2024-01-15T10:30:00Z."]},
        ) from None


def _parse_moment(name: str, raw: str, *, end_of_day: bool = False) -> datetime:
    try:
        day = parse_date(raw) if _is_date_only(raw) else None
        moment = None if day else parse_datetime(raw)
    except ValueError:  # well formed but impossible, like month 13
        moment = day = None
    try:
        if moment is None and day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        if moment is not None:
            moment = _in_utc(moment)
    except OverflowError:  # 9999-12-31 plus a day, or an offset that leaves year 1..9999
        moment = None
    if moment is None:
        raise invalid_params(
            f"{name} must be an ISO 8601 date or date-time.",
            {name: ["Use ISO 8601, for example 2024-01-15T10:30:00Z."]},
        )
    return moment


def _choice(name: str, raw: str, choices: list[str]) -> str:
    if raw not in choices:
        raise invalid_params(
            f"{name} must be one of: {', '.join(choices)}.",
            {name: [f"Must be one of: {', '.join(choices)}."]},
        )
    return raw


def parse_message_filters(params: Mapping[str, str]) -> MessageFilters:
    """The documented query parameters (direction, status, from, to, startDate, endDate,
    conversation, search, updated_since), each checked in that order."""
    fields: dict[str, object] = {}
    if raw := params.get("direction"):
        fields["direction"] = _choice("direction", raw, Direction.values)
    if raw := params.get("status"):
        fields["status"] = _choice("status", raw, Status.values)
    if raw := params.get("from"):
        fields["from_number"] = normalize_e164(raw, field="from")
    if raw := params.get("to"):
        fields["to_number"] = normalize_e164(raw, field="to")
    if raw := params.get("startDate"):
        fields["created_from"] = _parse_moment("startDate", raw)
    if raw := params.get("endDate"):
        if _is_date_only(raw):  # a whole day, up to its end
            fields["created_before"] = _parse_moment("endDate", raw, end_of_day=True)
        else:
            fields["created_through"] = _parse_moment("endDate", raw)
    if raw := params.get("conversation"):
        fields["conversation_id"] = raw
    if raw := params.get("search"):
        if len(raw) > MAX_SEARCH_LENGTH:
            raise invalid_params(f"search must be at most {MAX_SEARCH_LENGTH} characters.")
        fields["search"] = raw
    if raw := params.get("updated_since"):
        # For clients catching up after a dropped WebSocket connection.
        fields["updated_after"] = _parse_moment("updated_since", raw)
    return MessageFilters(**fields)  # type: ignore[arg-type]


def page_message_filters(
    *,
    direction: str = "",
    status: str = "",
    from_number: str = "",
    to_number: str = "",
    start: date | None = None,
    end: date | None = None,
    search: str = "",
    conversation_id: str = "",
) -> MessageFilters:
    """The filters of the messages page's form (days, already valid dates; numbers as typed)."""
    return MessageFilters(
        direction=direction,
        status=status,
        from_number=normalize_e164(from_number, field="from") if from_number else "",
        to_number=normalize_e164(to_number, field="to") if to_number else "",
        created_from=_day_start(start) if start else None,
        created_before=_day_after("endDate", end) if end else None,
        search=search,
        conversation_id=conversation_id,
    )
