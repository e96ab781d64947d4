"""Reads of messages and conversations, always within one workspace."""

import re
from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import Expression, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import Contains, Exact, Lookup

from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .filters import MessageFilters, parse_message_filters
from .list_counts import (
    bounded,
    conversation_total,
    message_seek,
    message_total,
    message_total_by_number,
    with_total,
)
from .models import Contact, Conversation, Message, OptOut, Status

# A message in flight (queued, sending) is not in the trigram index (a claim would write into it):
# a search finds those through `msg_ws_status`.
IN_FLIGHT = [Status.QUEUED, Status.SENDING]


class SearchText(Expression):
    """The messages' `search_text` column on PostgreSQL: UPPER(body), kept by the database from
    each message's insert, under a trigram index of the settled messages (migrations
    messaging.0024, 0025; not a model field, so Django neither writes nor fetches it)."""

    output_field = TextField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        table = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return f"{table}.search_text", ()


class Like(Lookup):
    """`lhs LIKE rhs`, the pattern as given (Contains escapes its wildcards)."""

    lookup_name = "like"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs}", (*lhs_params, *rhs_params)


def tiles_pattern(text: str) -> str | None:
    """A LIKE pattern of `text`'s letters and digits cut into three-character tiles, in order
    ("afc712 16c1e0" → "%afc%712%16c%1e0%"), or None when `text` has fewer than two tiles.

    Every body that holds `text` matches it, and the trigram index looks up one trigram a tile
    instead of every trigram of `text` (each a long list of bodies when the text is a code or a
    hash), so a rare string's search reads a third of the index it did."""
    tiles = [run[i : i + 3] for run in re.findall(r"[A-Za-z0-9]+", text) for i in range(0, len(run) - 2, 3)]
    return "%" + "%".join(tiles) + "%" if len(tiles) > 1 else None


def body_search(text: str) -> Q:
    """Messages whose body holds `text`, case-insensitively (UPPER on both sides, as icontains)."""
    if connection.vendor != "postgresql":
        return Q(body__icontains=text)
    wanted = Upper(Value(text))
    pattern = tiles_pattern(text)
    if pattern is None:
        holds = Q(Contains(SearchText(), wanted))
    else:
        # The tiles find the candidates through the index; STRPOS, which no index takes, keeps
        # the bodies that hold the text itself ("<> 0" keeps the planner's estimate of the rows).
        holds = Q(Like(SearchText(), Upper(Value(pattern)))) & ~Q(Exact(StrIndex(SearchText(), wanted), 0))
    # The status first, in both parts: PostgreSQL tests an OR's parts in the order written.
    in_flight = Q(status__in=IN_FLIGHT)
    return (~in_flight & holds) | (in_flight & holds)


def access_message(*, workspace: Workspace, message_id: str) -> Message:
    return in_workspace(Message.objects, workspace=workspace, pk=message_id, missing="Message not found.")


def access_conversation(*, workspace: Workspace, conversation_id: str) -> Conversation:
    found = in_workspace(
        Conversation.objects, workspace=workspace, pk=conversation_id, missing="Conversation not found."
    )
    return with_contact_name(Conversation.objects.filter(pk=found.pk)).get()


def message_list(*, workspace: Workspace, filters: MessageFilters | Mapping[str, str]) -> QuerySet[Message]:
    """The workspace's messages, newest first, narrowed by the filters (query parameters are
    parsed by messaging.filters first); its count() is read from the workspace's counters where
    the filters allow (messaging.list_counts)."""
    if not isinstance(filters, MessageFilters):
        filters = parse_message_filters(filters)
    messages = Message.objects.for_workspace(workspace)
    total: dict[str, Any] = {"workspace_id": workspace.pk}
    if filters.direction:
        total["direction"] = filters.direction
        messages = messages.filter(direction=filters.direction)
    if filters.status:
        total["status"] = filters.status
        messages = messages.filter(status=filters.status)
    numbers = {}
    if filters.from_number:
        numbers["from_number"] = filters.from_number
    if filters.to_number:
        numbers["to_number"] = filters.to_number
    messages = messages.filter(**numbers)
    if filters.created_from:
        total["start"] = filters.created_from
        messages = messages.filter(created_at__gte=filters.created_from)
    if filters.created_before:
        total["end"] = filters.created_before
        messages = messages.filter(created_at__lt=filters.created_before)
    if filters.created_through:
        total["end"], total["end_inclusive"] = filters.created_through, True
        messages = messages.filter(created_at__lte=filters.created_through)
    if filters.conversation_id:
        messages = messages.filter(conversation_id=filters.conversation_id)
    if filters.search:
        messages = messages.filter(body_search(filters.search))
    if filters.updated_after:
        messages = messages.filter(updated_at__gt=filters.updated_after)
    messages = messages.order_by("-created_at", "-id")
    # A body search is counted only so far past the page (messaging.list_counts.bounded).
    if filters.search:
        return bounded(messages)
    # Matches of these filters only an index can count (messaging.list_counts counts the others).
    if len(numbers) > 1 or filters.conversation_id or filters.updated_after:
        return messages
    if numbers:
        [(field, number)] = numbers.items()
        return with_total(messages, lambda: message_total_by_number(field=field, number=number, **total))
    return with_total(
        messages,
        lambda: message_total(**total),
        seek=lambda found, offset: message_seek(found, offset, **total),
    )


def with_contact_name(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Each conversation with `contact_name`: the name of the contact of its number, if any."""
    name = (
        Contact.objects.filter(workspace_id=OuterRef("workspace_id"), phone_number=OuterRef("contact_number"))
        .exclude(name="")
        .values("name")[:1]
    )
    return conversations.annotate(contact_name=Subquery(name))


def conversation_list(*, workspace: Workspace) -> QuerySet[Conversation]:
    return with_total(
        with_contact_name(
            Conversation.objects.for_workspace(workspace)
            .filter(last_message__isnull=False)
            .select_related("last_message")
            .order_by("-last_message_at", "-id")
        ),
        lambda: conversation_total(workspace_id=workspace.pk),
    )


def opt_out_list(*, workspace: Workspace) -> QuerySet[OptOut]:
    return OptOut.objects.for_workspace(workspace).order_by("-created_at", "-id")
