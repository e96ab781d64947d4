"""Storing accepted outbound messages on PostgreSQL in one statement.

The opt-out check, the conversations' upsert, the messages and their first events are one
`WITH … INSERT … RETURNING` statement: one round trip, atomic by itself (no BEGIN/COMMIT of its
own), whatever the number of messages. The columns come from the models, so a field added to
Message or MessageEvent is written with its default without a change here. A single message's
values are the statement's parameters; a batch's rows travel as one JSON parameter, so one
statement text serves every batch. Both are prepared once per connection. Under a credentials
token that the request assumed (messaging_platform/api/credentials.py), the statement stores
only if the table still holds that token, and says which it saw.
"""

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections

from messaging_platform.api import credentials
from messaging_platform.api.models import CredentialsVersion
from messaging_platform.ids import new_ids
from workspaces.models import Workspace

from .models import Conversation, Message, MessageEvent, OptOut

# The statement's parameters stay under PostgreSQL's limit of 65,535 at this many rows.
CHUNK = 1000


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _values(rows: int, fields: Sequence) -> str:
    """The VALUES rows of the input, in PostgreSQL's own placeholders ($1, $2, …): each message's
    columns, then its ordinal, its side of the conversation and a new conversation id. The first
    row carries each column's type (VALUES in a subquery has no target to take it from); the
    other rows follow it."""
    width = len(fields) + 3
    casts = [f.cast_db_type(connection) for f in fields] + ["int", "varchar", "varchar"]
    first = ", ".join(f"${n + 1}::{cast}" for n, cast in enumerate(casts))
    other = (", ".join(f"${row * width + n + 1}" for n in range(width)) for row in range(1, rows))
    return ", ".join([f"({first})", *(f"({row})" for row in other)])


def _may_prepare(db) -> bool:
    """Whether statements may be prepared on the server: not when the settings say how psycopg
    prepares (PgBouncer in transaction mode sets None: the next statement may reach another
    server connection)."""
    return "prepare_threshold" not in db.settings_dict.get("OPTIONS", {})


def fetch_all(sql: str, params: list, *, prepare: bool = False) -> list[tuple]:
    """Run one statement written with PostgreSQL's placeholders, its parameters bound by the
    server (sent beside the SQL, not quoted into it, and no placeholder rewriting: for a thousand
    messages, psycopg's rewriting of 30,000 `%s` was most of a batch's web CPU, and quoting them
    into the text more). Through Django's cursor wrapper, so errors are Django's and query logging
    and execute wrappers see it.

    `prepare`: the statement is prepared on the server once per connection (Django turns
    psycopg's preparing off, so it is turned on around this statement only). Parsing and
    planning the store statement cost PostgreSQL more than running it (0.6 of 1.0 ms a send)."""
    from psycopg import RawCursor

    db = connections[DEFAULT_DB_ALIAS]  # this thread's, looked up once (not through the proxy)
    db.ensure_connection()
    with db.wrap_database_errors:
        # The PostgreSQL backend's own method: the stubs type `db` as the base wrapper.
        cursor = db._prepare_cursor(RawCursor(db.connection))  # type: ignore[attr-defined]
    with cursor:
        if prepare and _may_prepare(db):
            raw = db.connection
            raw.prepare_threshold = 0
            try:
                cursor.execute(sql, params)  # threshold 0: prepared at its first execution
            finally:
                raw.prepare_threshold = None
        else:
            cursor.execute(sql, params)
        return cursor.fetchall()


@functools.cache
def _columns(model, *, skip_auto: bool = True) -> tuple:
    """The model's columns (made once per process: models do not change while it runs)."""
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not (skip_auto and f.primary_key and f.get_internal_type().endswith("AutoField"))
    )


_TEXT_TYPES = {"CharField", "TextField"}
_INTEGER_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallIntegerField",
    "IntegerField",
    "BigIntegerField",
    "PositiveSmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
}


def _plain_type(field) -> type | None:
    """The Python type whose values the field's own preparation hands to psycopg unchanged (a
    str for text, an int for integers, an aware datetime), or None: always prepared."""
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if kind in _TEXT_TYPES:
        return str
    if kind in _INTEGER_TYPES:
        return int
    return datetime if kind == "DateTimeField" else None


_row_specs: dict[int, tuple[Sequence, tuple[tuple[str, Any, Any], ...]]] = {}


def _row_spec(fields: Sequence) -> tuple[tuple[str, Any, Any], ...]:
    """Each column's attribute, plain type and preparation, found once per process and list of
    columns (by identity: hashing thirty fields cost as much as finding them again)."""
    found = _row_specs.get(id(fields))
    if found is None or found[0] is not fields:
        spec = tuple((f.attname, _plain_type(f), f.get_db_prep_save) for f in fields)
        found = _row_specs[id(fields)] = (fields, spec)
    return found[1]


def _row_params(rows, fields) -> Iterator[list[Any]]:
    """Each row's column values for the driver, as get_db_prep_save makes them; values of the
    plain types (most of a message's) skip it, which was a third of a 1,000-message batch's web
    CPU. Through the connection itself, not Django's per-thread proxy."""
    real = connections[DEFAULT_DB_ALIAS]
    plain = _row_spec(fields)
    params = []
    for row in rows:
        for attname, kind, prepare in plain:
            value = getattr(row, attname)
            if value is None or (type(value) is kind and (kind is not datetime or value.tzinfo is not None)):
                params.append(value)
            else:
                params.append(prepare(value, real))
        yield params
        params = []


def _json_ready(fields) -> bool:
    """Whether every column's values go into JSON as they are: text, integers, aware datetimes
    (orjson writes them in RFC 3339, which timestamptz reads) and JSON fields."""
    return all(_plain_type(f) is not None or f.get_internal_type() == "JSONField" for f in fields)


def _json_rows(messages: list[Message], fields, our_sides: list[str], conversation_ids: list[str]) -> str:
    """The rows of `messages` as one JSON array for json_to_recordset: each message's columns
    (a NULL left out: a missing key reads as NULL), its ordinal, side and new conversation id."""
    real = connections[DEFAULT_DB_ALIAS]
    spec: list[tuple[str, str, Any, Any]] = [
        (f.column, f.attname, _plain_type(f), f.get_db_prep_save) for f in fields
    ]
    rows = []
    for ordinal, (message, our_side, conversation_id) in enumerate(
        zip(messages, our_sides, conversation_ids, strict=True)
    ):
        row: dict[str, Any] = {
            "_ordinal": ordinal,
            "_our_side": our_side,
            "_new_conversation": conversation_id,
        }
        for column, attname, kind, prepare in spec:
            value = getattr(message, attname)
            if value is None:
                continue
            # A JSON field's value nests as it is (kind None); plain values go as they are.
            if kind is None or (type(value) is kind and (kind is not datetime or value.tzinfo is not None)):
                row[column] = value
            else:
                row[column] = prepare(value, real)
        rows.append(row)
    return orjson.dumps(rows, default=str).decode()


def messages_store(*, workspace: Workspace, messages: list[Message], our_sides: list[str]) -> set[str]:
    """Insert `messages` (built, not saved; `our_sides[i]` is message i's side of its
    conversation) except those to opted-out recipients; sets each stored message's
    `conversation_id` and answers the opted-out recipients' numbers."""
    opted_out: set[str] = set()
    for start in range(0, len(messages), CHUNK):
        opted_out |= _store_chunk(
            workspace, messages[start : start + CHUNK], our_sides[start : start + CHUNK]
        )
    return opted_out


@functools.lru_cache(maxsize=16)
def _statement(rows: int) -> str:
    """The statement for `rows` messages (built once per size and process: the columns come from
    the models, which do not change while the process runs). `rows` 0: any number of messages,
    their rows as one JSON parameter (`json_to_recordset`), so one text serves every batch and
    is prepared once per connection; parsing and planning a thousand rows of VALUES placeholders
    had been a large share of a batch's cost on PostgreSQL."""
    fields = _columns(Message)
    names = [f.column for f in fields]
    input_columns = ", ".join(_q(n) for n in names)
    if rows:
        first_param = rows * (len(fields) + 3) + 1
        values = _values(rows, fields)
        source = f"input ({input_columns}, _ordinal, _our_side, _new_conversation) AS (VALUES {values})"
    else:
        first_param = 2
        definition = ", ".join(f"{_q(f.column)} {f.cast_db_type(connection)}" for f in fields)
        extra = "_ordinal int, _our_side varchar, _new_conversation varchar"
        source = f"input AS (SELECT * FROM json_to_recordset($1::json) AS r({definition}, {extra}))"  # noqa: S608
    workspace_param = f"${first_param}"
    # The credentials token the request went on under (messaging_platform/api/credentials.py:
    # assumed, not read), or NULL: the messages are stored only if the table still holds it.
    token_param = f"${first_param + 1}::text"
    input_columns = ", ".join(_q(n) for n in names)
    message_columns = ", ".join(f"kept.{_q(n)}" if n != "conversation_id" else "conv.id" for n in names)
    event_fields = _columns(MessageEvent)
    event_values = {
        "message_id": "kept.id",
        "status": "kept.status",
        "source": "'api'",
        "created_at": "kept.created_at",
    }
    event_columns = ", ".join(_q(f.column) for f in event_fields)
    event_selects = ", ".join(event_values.get(f.column, "NULL") for f in event_fields)
    conversation, message, event, optout, version = (
        _q(m._meta.db_table) for m in (Conversation, Message, MessageEvent, OptOut, CredentialsVersion)
    )
    # Only our table and column names and placeholders are formatted in; values are parameters.
    return f"""
        WITH {source}, opted AS (
            SELECT DISTINCT phone_number FROM {optout}
            WHERE workspace_id = {workspace_param}
              AND phone_number IN (SELECT to_number FROM input)
        ), token AS (
            SELECT token FROM {version} WHERE id = 1
        ), kept AS (
            SELECT * FROM input WHERE to_number NOT IN (SELECT phone_number FROM opted)
              AND ({token_param} IS NULL OR {token_param} IN (SELECT token FROM token))
        ), conv AS (
            INSERT INTO {conversation} (id, workspace_id, our_number, contact_number,
                                        last_message_id, last_message_at, unread_count, created_at)
            SELECT DISTINCT ON (_our_side, to_number) _new_conversation, workspace_id, _our_side,
                   to_number, id, created_at, 0, created_at
            FROM kept ORDER BY _our_side, to_number, _ordinal DESC
            ON CONFLICT (workspace_id, our_number, contact_number) DO UPDATE SET
                last_message_id = excluded.last_message_id,
                last_message_at = excluded.last_message_at
            RETURNING id, our_number, contact_number
        ), stored AS (
            INSERT INTO {message} ({input_columns})
            SELECT {message_columns} FROM kept
            JOIN conv ON conv.our_number = kept._our_side AND conv.contact_number = kept.to_number
            RETURNING id, conversation_id
        ), first_events AS (
            INSERT INTO {event} ({event_columns}) SELECT {event_selects} FROM kept
        )
        SELECT 'opted_out', phone_number, NULL FROM opted
        UNION ALL SELECT 'stored', id, conversation_id FROM stored
        UNION ALL SELECT 'token', token, NULL FROM token WHERE {token_param} IS NOT NULL
    """  # noqa: S608


def _store_chunk(workspace: Workspace, messages: list[Message], our_sides: list[str]) -> set[str]:
    fields = _columns(Message)
    conversation_ids = new_ids("conv", len(messages))
    rows = 0 if len(messages) > 1 and _json_ready(fields) else len(messages)
    params: list[Any] = []
    if rows:
        for ordinal, (row, our_side) in enumerate(zip(_row_params(messages, fields), our_sides, strict=True)):
            params += row
            params += [ordinal, our_side, conversation_ids[ordinal]]
    else:
        params.append(_json_rows(messages, fields, our_sides, conversation_ids))
    assumed = credentials.assumed_token()
    params += [workspace.pk, assumed]
    answers = fetch_all(_statement(rows), params, prepare=rows <= 1)
    if assumed is not None:
        # Raises StaleCredentials when the token changed: then nothing was stored.
        credentials.assumed_token_seen(next((t for kind, t, _ in answers if kind == "token"), None))
    conversations = {pk: conversation_id for kind, pk, conversation_id in answers if kind == "stored"}
    for message_obj in messages:
        if message_obj.id in conversations:
            message_obj.conversation_id = conversations[message_obj.id]
            message_obj._state.adding = False  # a stored row now, as after save()
    return {number for kind, number, _ in answers if kind == "opted_out"}


# Inbound messages ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _inbound_statement(rows: int) -> str:
    """Filing `rows` inbound messages: each conversation (our side, the sender) upserted once, its
    last message the batch's newest and its unread count raised by the batch's count; then the
    messages and their `received` events."""
    fields = _columns(Message)
    names = [f.column for f in fields]
    values = _values(rows, fields)
    input_columns = ", ".join(_q(n) for n in names)
    message_columns = ", ".join(f"input.{_q(n)}" if n != "conversation_id" else "conv.id" for n in names)
    event_fields = _columns(MessageEvent)
    event_values = {
        "message_id": "input.id",
        "status": "input.status",
        "source": "'carrier'",
        "created_at": "input.created_at",
    }
    event_columns = ", ".join(_q(f.column) for f in event_fields)
    event_selects = ", ".join(event_values.get(f.column, "NULL") for f in event_fields)
    conversation, message, event = (_q(m._meta.db_table) for m in (Conversation, Message, MessageEvent))
    return f"""
        WITH input ({input_columns}, _ordinal, _our_side, _new_conversation) AS (
            VALUES {values}
        ), latest AS (
            SELECT DISTINCT ON (workspace_id, _our_side, from_number) _new_conversation,
                   workspace_id, _our_side, from_number, id, created_at,
                   count(*) OVER (PARTITION BY workspace_id, _our_side, from_number) AS received
            FROM input ORDER BY workspace_id, _our_side, from_number, _ordinal DESC
        ), conv AS (
            INSERT INTO {conversation} AS c (id, workspace_id, our_number, contact_number,
                                             last_message_id, last_message_at, unread_count,
                                             created_at)
            SELECT _new_conversation, workspace_id, _our_side, from_number, id, created_at,
                   received, created_at
            FROM latest
            ON CONFLICT (workspace_id, our_number, contact_number) DO UPDATE SET
                last_message_id = excluded.last_message_id,
                last_message_at = excluded.last_message_at,
                unread_count = c.unread_count + excluded.unread_count
            RETURNING id, workspace_id, our_number, contact_number
        ), stored AS (
            INSERT INTO {message} ({input_columns})
            SELECT {message_columns} FROM input
            JOIN conv ON conv.workspace_id = input.workspace_id AND conv.our_number = input._our_side
                     AND conv.contact_number = input.from_number
            RETURNING id, conversation_id
        ), first_events AS (
            INSERT INTO {event} ({event_columns}) SELECT {event_selects} FROM input
        )
        SELECT id, conversation_id FROM stored
    """  # noqa: S608


def inbound_messages_store(*, messages: list[Message], our_sides: list[str]) -> None:
    """Insert received `messages` (built, not saved, of any workspaces; `our_sides[i]` is the
    number or Messaging Service that message i reached), filing each into its conversation with
    the sender: one statement per CHUNK messages. Sets each message's `conversation_id`."""
    fields = _columns(Message)
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start : start + CHUNK]
        params = []
        conversation_ids = new_ids("conv", len(chunk))
        for ordinal, (row, our_side) in enumerate(
            zip(_row_params(chunk, fields), our_sides[start : start + CHUNK], strict=True)
        ):
            params += row
            params += [ordinal, our_side, conversation_ids[ordinal]]
        conversations = dict(fetch_all(_inbound_statement(len(chunk)), params))
        for message in chunk:
            message.conversation_id = conversations[message.id]
            message._state.adding = False
