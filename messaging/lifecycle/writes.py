"""The steps every change shares: its history rows and counts in the same transaction, and after
commit the publish, the status callbacks and the wake-ups."""

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import events
from ..enqueue import enqueue_send, enqueue_status_callback
from ..insights.counting import count_events
from ..models import Message, MessageEvent
from .sql import _param, json_rows

_EVENTS = MessageEvent._meta.db_table
_EVENT_ROWS_PER_INSERT = 1000


def _events(rows: Sequence[tuple[Message, dict[str, Any]]]) -> None:
    """The history rows of a change, in multi-row INSERTs built as SQL (no model instances), and
    the dashboard's counts of them, in this transaction."""
    if not rows:
        return
    # Each row its own time, as auto_now_add gives: a message's steps keep their order.
    written = [(message, fields, timezone.now()) for message, fields in rows]
    count_events((message, fields["status"], fields.get("error_code"), at) for message, fields, at in written)
    if connection.vendor == "postgresql":
        columns = ("message_id", "status", "error_code", "error_message", "source", "created_at")
        source, params = json_rows(
            columns,
            ("text",) * 5 + ("timestamptz",),
            [
                (
                    message.id,
                    fields["status"],
                    fields.get("error_code"),
                    fields.get("error_message"),
                    fields["source"],
                    at,
                )
                for message, fields, at in written
            ],
        )
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {_EVENTS} ({', '.join(columns)}) {source}", params)  # noqa: S608
        return
    with connection.cursor() as cursor:
        for start in range(0, len(written), _EVENT_ROWS_PER_INSERT):
            chunk = written[start : start + _EVENT_ROWS_PER_INSERT]
            params = []
            for message, fields, at in chunk:
                params += (
                    message.id,
                    fields["status"],
                    fields.get("error_code"),
                    fields.get("error_message"),
                    fields["source"],
                    _param("ts", at),
                )
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {_EVENTS} (message_id, status, error_code, error_message, "  # noqa: S608
                f"source, created_at) VALUES {values}",
                params,
            )


def _tell(messages: Sequence[Message], *, callbacks: bool) -> None:
    """After commit: publish once per workspace; the status callbacks, with each message as it is
    at this change (a later change gets its own)."""
    if not messages:
        return
    events.messages_updated(messages)
    if callbacks:
        pending = [(m.status_callback, events.message_payload(m)) for m in messages if m.status_callback]
        if pending:
            # The list only runs the calls: on_commit discards what its callback returns.
            transaction.on_commit(lambda: [enqueue_status_callback(url, data) for url, data in pending])  # type: ignore[func-returns-value]


def _wake(items: Sequence[tuple[str, float | None]]) -> None:
    """After commit, a send task per message (id, countdown in seconds or None)."""
    if items:
        transaction.on_commit(lambda: [enqueue_send(mid, countdown=countdown) for mid, countdown in items])  # type: ignore[func-returns-value]
