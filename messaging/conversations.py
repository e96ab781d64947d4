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


def conversations_for(*, workspace: Workspace,
                      pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Conversation]:
    """The conversations of many (our side, contact) pairs, created where missing, in a few queries
    whatever their number. Concurrent creators meet on the unique constraint and share one."""

    def existing(wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Conversation]:
        rows = Conversation.objects.for_workspace(workspace).filter(
            our_number__in={o for o, _ in wanted}, contact_number__in={c for _, c in wanted})
        return {(c.our_number, c.contact_number): c for c in rows
                if (c.our_number, c.contact_number) in wanted}

    found = existing(pairs)
    missing = pairs - found.keys()
    if missing:
        Conversation.objects.bulk_create(
            [Conversation(workspace=workspace, our_number=o, contact_number=c) for o, c in missing],
            ignore_conflicts=True)
        found.update(existing(missing))
    return found


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
