"""A message's payload, byte for byte, whatever times it holds and in whatever order they come
(formatted times are reused: the same instant must read the same, different ones never alike)."""

from datetime import UTC, datetime, timedelta, timezone

import orjson

from messaging import events
from messaging.models import Message


def formatted(value):
    """The times' format, as documented: ISO 8601, aware times in UTC with a Z."""
    if value is None or isinstance(value, str):
        return value
    text = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def expected(message: Message) -> bytes:
    return orjson.dumps(
        {
            "id": message.id,
            "direction": message.direction,
            "to": message.to_number,
            "from": message.from_number or None,
            "body": message.body,
            "status": message.status,
            "provider_sid": message.provider_sid,
            "created_at": formatted(message.created_at),
            "sid": message.id,
            "media_urls": [str(url) for url in message.media_urls],
            "num_segments": message.num_segments,
            "encoding": message.encoding,
            "error_code": message.error_code,
            "error_message": message.error_message,
            "scheduled_at": formatted(message.scheduled_at),
            "sent_at": formatted(message.sent_at),
            "delivered_at": formatted(message.delivered_at),
            "updated_at": formatted(message.updated_at),
            "conversation_id": message.conversation_id,
            "broadcast_id": message.broadcast_id,
        }
    )


def test_payloads_are_byte_for_byte_the_documented_format_with_times_repeated_or_not():
    base = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    berlin = timezone(timedelta(hours=2))
    times = [
        base,
        base.replace(microsecond=123456),
        base.astimezone(berlin),  # the same instant as `base`, another zone
        base.replace(tzinfo=None),  # naive: as it is, no Z
        base.replace(tzinfo=None, microsecond=1),
        base + timedelta(days=1, microseconds=7),
        "2026-03-29T01:30:00Z",
        None,
    ]
    for round_ in range(2):  # the second time, every time has been seen
        for index, created in enumerate(times):
            message = Message(
                id=f"msg_{round_}_{index}",
                workspace_id="ws_1",
                direction="outbound",
                status="sent",
                to_number="+14155550142",
                from_number="+12025550100",
                body="Hello",
                media_urls=["https://example.com/a.png"],
                created_at=created,
                sent_at=times[(index + 1) % len(times)],
                delivered_at=times[(index + 3) % len(times)],
                updated_at=times[(index + 2) % len(times)],
            )
            assert orjson.dumps(events.message_payload(message)) == expected(message)
    now = datetime.now(UTC)  # a batch: one object for every message's sent_at and updated_at
    for index in range(5):
        message = Message(
            id=f"msg_batch_{index}",
            workspace_id="ws_1",
            direction="outbound",
            status="delivered",
            to_number="+14155550142",
            body="",
            created_at=base - timedelta(seconds=index),
            sent_at=now,
            delivered_at=now + timedelta(seconds=index),
            updated_at=now if index % 2 else now.astimezone(berlin),
        )
        assert orjson.dumps(events.message_payload(message)) == expected(message)
    assert events._time(base) != events._time(base.replace(tzinfo=None))
    assert events._time(base.astimezone(berlin)) == "2026-03-29T01:30:00Z"
