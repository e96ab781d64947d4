"""Threads: one per (our number, contact number) in a workspace."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from messaging_platform.ids import new_id
from workspaces.models import Workspace

from .models import Conversation, Message


def conversation_for(*, workspace: Workspace, our_side: str, contact: str) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(
        workspace=workspace, our_number=our_side, contact_number=contact
    )
    return conversation


def conversations_touch(
    *, workspace: Workspace, latest: dict[tuple[str, str], Message], at: datetime
) -> dict[tuple[str, str], str]:
    """Point each (our side, contact) conversation at its newest outbound message, creating the
    conversations that do not exist yet, in one statement whatever their number; returns their ids.

    An upsert rather than read, create, read again, update: a send is then one round trip here,
    and concurrent creators meet on the unique constraint. The message rows are inserted after
    this in the same transaction (the foreign key is checked at commit)."""
    if not latest:
        return {}
    last_at = Conversation._meta.get_field("last_message_at").get_db_prep_value(
        at, connection, prepared=False
    )
    rows, params = [], []
    for (our_side, contact), message in latest.items():
        rows.append("(%s, %s, %s, %s, %s, %s, 0, %s)")
        params += [new_id("conv"), workspace.id, our_side, contact, message.id, last_at, last_at]
    table = connection.ops.quote_name(Conversation._meta.db_table)
    # Only our table name and placeholders are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (id, workspace_id, our_number, contact_number, last_message_id, "  # noqa: S608
        f"last_message_at, unread_count, created_at) VALUES {', '.join(rows)} "
        "ON CONFLICT (workspace_id, our_number, contact_number) DO UPDATE SET "
        "last_message_id = excluded.last_message_id, last_message_at = excluded.last_message_at "
        "RETURNING id, our_number, contact_number"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(our_side, contact): pk for pk, our_side, contact in cursor.fetchall()}


def conversation_file_inbound(*, conversation: Conversation, message) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message=message,
        last_message_at=message.created_at,
        unread_count=F("unread_count") + 1,
    )


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
    conversation.unread_count = 0
    return conversation
