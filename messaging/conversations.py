"""Threads: one per (our number, contact number) in a workspace."""

from django.db import transaction
from django.db.models import F

from workspaces.models import Workspace

from .models import Conversation


def conversation_for(*, workspace: Workspace, our_side: str, contact: str) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(
        workspace=workspace, our_number=our_side, contact_number=contact
    )
    return conversation


def conversation_file_inbound(*, conversation: Conversation, message) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message=message, last_message_at=message.created_at,
        unread_count=F("unread_count") + 1,
    )


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
    conversation.unread_count = 0
    return conversation
