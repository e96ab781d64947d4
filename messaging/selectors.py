"""Reads of messages and conversations, always within one workspace."""

from collections.abc import Mapping

from django.db.models import OuterRef, QuerySet, Subquery

from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .filters import MessageFilters, parse_message_filters
from .models import Contact, Conversation, Message, OptOut


def access_message(*, workspace: Workspace, message_id: str) -> Message:
    return in_workspace(Message.objects, workspace=workspace, pk=message_id,
                        missing="Message not found.")


def access_conversation(*, workspace: Workspace, conversation_id: str) -> Conversation:
    found = in_workspace(Conversation.objects, workspace=workspace, pk=conversation_id,
                         missing="Conversation not found.")
    return with_contact_name(Conversation.objects.filter(pk=found.pk)).get()


def message_list(*, workspace: Workspace, filters: MessageFilters | Mapping[str, str]) -> QuerySet[Message]:
    """The workspace's messages, newest first, narrowed by the filters (query parameters are
    parsed by messaging.filters first)."""
    if not isinstance(filters, MessageFilters):
        filters = parse_message_filters(filters)
    messages = Message.objects.for_workspace(workspace)
    if filters.direction:
        messages = messages.filter(direction=filters.direction)
    if filters.status:
        messages = messages.filter(status=filters.status)
    if filters.from_number:
        messages = messages.filter(from_number=filters.from_number)
    if filters.to_number:
        messages = messages.filter(to_number=filters.to_number)
    if filters.created_from:
        messages = messages.filter(created_at__gte=filters.created_from)
    if filters.created_before:
        messages = messages.filter(created_at__lt=filters.created_before)
    if filters.created_through:
        messages = messages.filter(created_at__lte=filters.created_through)
    if filters.conversation_id:
        messages = messages.filter(conversation_id=filters.conversation_id)
    if filters.search:
        messages = messages.filter(body__icontains=filters.search)
    if filters.updated_after:
        messages = messages.filter(updated_at__gt=filters.updated_after)
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
