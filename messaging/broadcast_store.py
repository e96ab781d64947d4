"""Storing a batch of a broadcast's messages on PostgreSQL in one statement.

The same writes as the send service's (messaging/message_store.py): the opt-out check, the
conversations' upsert, the messages and their first events, in one `WITH … INSERT` statement,
atomic by itself. What differs is the shape, made for thousands of rows that share everything but
the recipient and the text: the varying columns travel as one JSON parameter (`json_to_recordset`,
made by orjson at a fraction of the cost of an array parameter per column), so the statement has
the same dozen parameters at 10 or 10,000 messages, and the shared columns are written once, from
a prototype Message (a field added to the model is written with its default without a change
here). It runs on psycopg's own cursor, which binds parameters on the server.
"""

from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection
from django.db.models import Field

from messaging_platform.ids import new_ids

from .events import _time as event_time
from .lifecycle import json_rows
from .models import Conversation, Direction, Message, MessageEvent, OptOut, Status
from .sending import Sender

# The columns each message has its own value of; the prototype gives every other column.
_PER_ROW = ("id", "status", "to_number", "body", "num_segments", "encoding", "scheduled_at")
# What travels per row (one JSON parameter: cheaper to make than an array parameter per column).
_ROW_COLUMNS = (*_PER_ROW, "new_conversation")
_ROW_TYPES = ("text", "text", "text", "text", "int", "text", "timestamptz", "text")


@dataclass(slots=True)
class StoredMessage:
    """A stored broadcast message, as events.message_payload reads it: a model instance per
    message costs more than the rest of making it. Its times are the events' text already (made
    once a batch, not three times a message: message_payload passes text through)."""

    id: str
    workspace_id: str
    status: str
    to_number: str
    from_number: str
    body: str
    num_segments: int
    encoding: str
    scheduled_at: str | None
    conversation_id: str
    broadcast_id: str
    created_at: str
    updated_at: str
    direction: str = Direction.OUTBOUND
    provider_sid: None = None
    media_urls: tuple = ()
    error_code: None = None
    error_message: None = None
    sent_at: None = None
    delivered_at: None = None


@dataclass(frozen=True)
class Outgoing:
    """One rendered message of a batch."""

    to: str
    body: str
    num_segments: int
    encoding: str
    scheduled_at: datetime | None


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(field: Field) -> str:
    assert field.column is not None  # a concrete field has its column
    return field.column


def _statement(prototype: Message) -> tuple[str, dict]:
    """The statement's text and its shared parameters (the rows are added by the caller)."""
    params: dict = {}
    message_columns, selects = [], []
    for f in Message._meta.concrete_fields:
        message_columns.append(_q(_column(f)))
        if f.attname in _PER_ROW:
            selects.append(f"kept.{f.attname}")
        elif f.attname == "conversation_id":
            selects.append("conv.id")
        else:
            name = f"c_{f.attname}"
            params[name] = f.get_db_prep_save(getattr(prototype, f.attname), connection)
            selects.append(f"%({name})s::{f.cast_db_type(connection)}")
    event_values = {
        "message_id": "kept.id",
        "status": "kept.status",
        "source": "'api'",
        "created_at": "%(now)s",
    }
    event_fields = [f for f in MessageEvent._meta.concrete_fields if not f.primary_key]
    conversation, message, event, optout = (
        _q(m._meta.db_table) for m in (Conversation, Message, MessageEvent, OptOut)
    )
    # Only our table and column names and placeholders are formatted in; values are parameters.
    rows, _ = json_rows(_ROW_COLUMNS, _ROW_TYPES, [])
    rows = rows.replace("%s", "%(rows)s")
    sql = f"""
        WITH input AS ({rows}), kept AS (
            SELECT * FROM input WHERE NOT EXISTS (
                SELECT 1 FROM {optout} o
                WHERE o.workspace_id = %(workspace_id)s AND o.phone_number = input.to_number)
        ), conv AS (
            INSERT INTO {conversation} (id, workspace_id, our_number, contact_number,
                                        last_message_id, last_message_at, unread_count, created_at)
            SELECT new_conversation, %(workspace_id)s, %(our_side)s, to_number, id, %(now)s, 0, %(now)s
            FROM kept
            ON CONFLICT (workspace_id, our_number, contact_number) DO UPDATE SET
                last_message_id = excluded.last_message_id,
                last_message_at = excluded.last_message_at
            RETURNING id, contact_number
        ), stored AS (
            INSERT INTO {message} ({", ".join(message_columns)})
            SELECT {", ".join(selects)} FROM kept JOIN conv ON conv.contact_number = kept.to_number
            RETURNING id, conversation_id
        ), first_events AS (
            INSERT INTO {event} ({", ".join(_q(_column(f)) for f in event_fields)})
            SELECT {", ".join(event_values.get(_column(f), "NULL") for f in event_fields)} FROM kept
        )
        SELECT id, conversation_id FROM stored
    """  # noqa: S608
    return sql, params


def _sender_fields(sender: Sender) -> dict:
    """The message's columns that its sender decides, as message_send_many sets them."""
    return {
        "from_number": sender.number.phone_number if sender.number else "",
        "messaging_service_sid": sender.messaging_service_sid,
        "carrier_account_id": sender.account_id,
        "fallback_account_id": sender.fallback_id,
    }


def broadcast_messages_store(
    *,
    workspace_id: str,
    broadcast_id: str,
    sender: Sender,
    expires_at: datetime | None,
    sent_by_id,
    now: datetime,
    outgoing: list[Outgoing],
) -> list[StoredMessage]:
    """Insert `outgoing`, all from `sender` (sending.resolve_sender), except those to opted-out
    recipients (checked in the statement, so an opt-out that arrived since the contacts were read
    still counts); answers the stored ones. Recipients must be distinct (a broadcast's contacts
    are: one per number)."""
    if not outgoing:
        return []
    prototype = Message(
        workspace_id=workspace_id,
        direction=Direction.OUTBOUND,
        status=Status.QUEUED,
        media_urls=[],
        expires_at=expires_at,
        broadcast_id=broadcast_id,
        sent_by_id=sent_by_id,
        created_at=now,
        updated_at=now,
        **_sender_fields(sender),
    )
    from_number = prototype.from_number
    sql, params = _statement(prototype)
    # In the order of the indexes they go into: by number (the conversations' pair, the messages'
    # recipient indexes) and, as the ids are random, with the ids handed out in order too (the
    # primary keys, the first events' message index, and the commit's foreign-key checks, which
    # look the rows up in the order they were made). Each index's pages are then visited once,
    # one after the next, not thousands of times at random.
    outgoing = sorted(outgoing, key=lambda o: o.to)
    ids = sorted(new_ids("msg", len(outgoing)))
    statuses = [Status.SCHEDULED if o.scheduled_at else Status.QUEUED for o in outgoing]
    _, (rows,) = json_rows(
        _ROW_COLUMNS,
        _ROW_TYPES,
        [
            (i, status, o.to, o.body, o.num_segments, o.encoding, o.scheduled_at, conversation)
            for i, status, o, conversation in zip(
                ids, statuses, outgoing, sorted(new_ids("conv", len(outgoing))), strict=True
            )
        ],
    )
    params.update(rows=rows, workspace_id=workspace_id, our_side=sender.our_side, now=now)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        conversations = dict(cursor.fetchall())
    stored = []
    created_at = event_time(now) or ""  # never None for a time
    release_texts: dict[datetime, str] = {}  # a few release times a batch (one a zone)
    for message_id, status, o in zip(ids, statuses, outgoing, strict=True):
        conversation_id = conversations.get(message_id)
        if conversation_id is not None:
            scheduled_at = None
            if o.scheduled_at is not None:
                scheduled_at = release_texts.get(o.scheduled_at)
                if scheduled_at is None:
                    scheduled_at = release_texts[o.scheduled_at] = event_time(o.scheduled_at) or ""
            stored.append(
                StoredMessage(
                    id=message_id,
                    workspace_id=workspace_id,
                    status=status,
                    to_number=o.to,
                    from_number=from_number,
                    body=o.body,
                    num_segments=o.num_segments,
                    encoding=o.encoding,
                    scheduled_at=scheduled_at,
                    conversation_id=conversation_id,
                    broadcast_id=broadcast_id,
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
    return stored
