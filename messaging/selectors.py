"""Reads of messages and conversations, always within one workspace."""

import re
from datetime import UTC, datetime, time, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from messaging_platform.errors import invalid_params
from numbers.phone import normalize_e164
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .models import Contact, Conversation, Direction, Message, OptOut, Status

MAX_SEARCH_LENGTH = 200


def access_message(*, workspace: Workspace, message_id: str) -> Message:
    return in_workspace(Message.objects, workspace=workspace, pk=message_id,
                        missing="Message not found.")


def access_conversation(*, workspace: Workspace, conversation_id: str) -> Conversation:
    found = in_workspace(Conversation.objects, workspace=workspace, pk=conversation_id,
                         missing="Conversation not found.")
    return with_contact_name(Conversation.objects.filter(pk=found.pk)).get()


def _is_date_only(raw: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) is not None


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
            # In UTC: PostgreSQL refuses offsets past ±15:59 that Python accepts (up to ±23:59).
            moment = (timezone.make_aware(moment, UTC) if timezone.is_naive(moment)
                      else moment.astimezone(UTC))
    except OverflowError:  # 9999-12-31 plus a day, or an offset that leaves year 1..9999
        moment = None
    if moment is None:
        raise invalid_params(f"{name} must be an ISO 8601 date or date-time.",
                             {name: ["Use ISO 8601, for example 2024-01-15T10:30:00Z."]})
    return moment


def _choice(name: str, raw: str, choices: list[str]) -> str:
    if raw not in choices:
        raise invalid_params(f"{name} must be one of: {', '.join(choices)}.",
                             {name: [f"Must be one of: {', '.join(choices)}."]})
    return raw


def message_list(*, workspace: Workspace, filters) -> QuerySet[Message]:
    """The workspace's messages, newest first, narrowed by the documented filters."""
    messages = Message.objects.for_workspace(workspace)
    if raw := filters.get("direction"):
        messages = messages.filter(direction=_choice("direction", raw, Direction.values))
    if raw := filters.get("status"):
        messages = messages.filter(status=_choice("status", raw, Status.values))
    if raw := filters.get("from"):
        messages = messages.filter(from_number=normalize_e164(raw, field="from"))
    if raw := filters.get("to"):
        messages = messages.filter(to_number=normalize_e164(raw, field="to"))
    if raw := filters.get("startDate"):
        messages = messages.filter(created_at__gte=_parse_moment("startDate", raw))
    if raw := filters.get("endDate"):
        if _is_date_only(raw):  # a whole day, up to its end
            messages = messages.filter(created_at__lt=_parse_moment("endDate", raw, end_of_day=True))
        else:
            messages = messages.filter(created_at__lte=_parse_moment("endDate", raw))
    if raw := filters.get("conversation"):
        messages = messages.filter(conversation_id=raw)
    if raw := filters.get("search"):
        if len(raw) > MAX_SEARCH_LENGTH:
            raise invalid_params(f"search must be at most {MAX_SEARCH_LENGTH} characters.")
        messages = messages.filter(body__icontains=raw)
    if raw := filters.get("updated_since"):
        # For clients catching up after a dropped WebSocket connection.
        messages = messages.filter(updated_at__gt=_parse_moment("updated_since", raw))
    return messages.order_by("-created_at", "-id")


def with_contact_name(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Each conversation with `contact_name`: the name of the contact of its number, if any."""
    name = (Contact.objects.filter(workspace_id=OuterRef("workspace_id"),
                                   phone_number=OuterRef("contact_number")).exclude(name="")
            .values("name")[:1])
    return conversations.annotate(contact_name=Subquery(name))


def conversation_list(*, workspace: Workspace) -> QuerySet[Conversation]:
    return with_contact_name(
        Conversation.objects.for_workspace(workspace).filter(last_message__isnull=False)
        .select_related("last_message").order_by("-last_message_at", "-id"))


def opt_out_list(*, workspace: Workspace) -> QuerySet[OptOut]:
    return OptOut.objects.for_workspace(workspace).order_by("-created_at", "-id")
