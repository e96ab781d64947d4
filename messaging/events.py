"""Telling the world: every created or changed message is published once, after commit, to the
workspace's Channels group (WebSocket clients) and to the workspace's event sinks (webhooks).

A failure to publish is logged, never raised into the request or task that changed the message.
"""

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from django.db import transaction

from messaging_platform.ids import new_ids

logger = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
# A change like message.updated, told apart: the message's carrier account definitely did not take
# it, and it is queued again on its route's fallback account, from that account's sender.
MESSAGE_FAILED_OVER = "message.failed_over"
PUBLISH_TIMEOUT = 5  # seconds: a stuck Redis must not hold a request or task for long

# Other parts of the platform (outbound webhooks) subscribe here: sink(workspace_id, events), with
# the events published together (one for a single change, a batch's worth for a batch).
EVENT_SINKS: list[Callable[[str, list[dict]], None]] = []


def workspace_group(workspace_id: str) -> str:
    """The Channels group of a workspace (dots, not colons: channels-redis group-name rules)."""
    return f"workspace.{workspace_id}"


def message_payload(message) -> dict:
    """THE message as every event, status callback and API answer shows it (the API serializer
    uses this too): the documented fields first, in the documented order, times in ISO 8601 UTC."""
    return {
        "id": message.id,
        "direction": message.direction,
        "to": message.to_number,
        "from": message.from_number or None,
        "body": message.body,
        "status": message.status,
        "provider_sid": message.provider_sid,
        "created_at": _time(message.created_at),
        "sid": message.id,
        "media_urls": [str(url) for url in message.media_urls],
        "num_segments": message.num_segments,
        "encoding": message.encoding,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "scheduled_at": _time(message.scheduled_at),
        "sent_at": _time(message.sent_at),
        "delivered_at": _time(message.delivered_at),
        "updated_at": _time(message.updated_at),
        "conversation_id": message.conversation_id,
        "broadcast_id": message.broadcast_id,
    }


# The two times formatted last, each with its text: a batch's messages share one `now` object as
# their sent_at and updated_at (one statement set them), and formatting it again for each message
# was about half of message_payload's CPU. Matched by identity (the entry holds the object, so its
# id is not reused), an entry is replaced whole, so a thread never pairs a time with another's text.
_recent_times: list[tuple[object, str]] = [(None, ""), (None, "")]


def _time(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    first, second = _recent_times
    if value is first[0]:
        return first[1]
    if value is second[0]:
        _recent_times[0], _recent_times[1] = second, first
        return second[1]
    text = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    text = text[:-6] + "Z" if text.endswith("+00:00") else text
    _recent_times[0], _recent_times[1] = (value, text), first
    return text


def message_created(message) -> None:
    messages_created([message], message.workspace_id)


def message_updated(message) -> None:
    messages_updated([message])


class Extra(NamedTuple):
    """A caller's commands to send in the publish's own round trip."""

    queue: Callable[[Any], None]  # queues them in a redis pipeline
    take: Callable[[list | None], None]  # their answers after the publish (None: not sent, the
    # caller must send them itself)
    wanted: Callable[[], bool] = lambda: True  # asked after commit: False, nothing is sent and
    # `take` is not called


def messages_created(messages: list, workspace_id: str, *, extra: Extra | None = None) -> None:
    """A batch's messages of one workspace, published after commit in one trip to the channel
    layer (one async_to_sync per event would start a thread per message). `extra`: commands to
    REDIS_URL that go in the same round trip when the channel layer is on that Redis."""
    _publish_on_commit(MESSAGE_CREATED, messages, extra=extra)


def messages_updated(messages: Sequence[Any]) -> None:
    """Changed messages (of any workspaces), published after commit once per workspace, each as
    it is now (the payload is taken at the change, not at commit)."""
    _publish_on_commit(MESSAGE_UPDATED, messages)


def messages_failed_over(messages: Sequence[Any]) -> None:
    _publish_on_commit(MESSAGE_FAILED_OVER, messages)


def _publish_on_commit(event_type: str, messages: Sequence[Any], *, extra: Extra | None = None) -> None:
    by_workspace: dict[str, list[dict]] = {}
    for message, event_id in zip(messages, new_ids("evt", len(messages)), strict=True):
        by_workspace.setdefault(message.workspace_id, []).append(
            {"id": event_id, "type": event_type, "data": message_payload(message)}
        )

    def publish() -> None:
        ride = extra if extra is not None and extra.wanted() else None
        answers = None
        for workspace_id, workspace_events in by_workspace.items():
            if ride is not None and answers is None:
                answers = publish_events(workspace_id, workspace_events, extra=ride.queue)
            else:
                publish_events(workspace_id, workspace_events)
        if ride is not None:
            ride.take(answers)

    if by_workspace:
        transaction.on_commit(publish)
    elif extra is not None:
        transaction.on_commit(lambda: extra.take(None) if extra.wanted() else None)


def event_text(event: dict) -> str:
    """The WebSocket frame of an event: {"id", "type", "data"} as JSON text."""
    return orjson.dumps(
        {"id": event["id"], "type": event["type"], "data": event["data"]}, default=str
    ).decode()


def publish_event(workspace_id: str, event: dict) -> None:
    publish_events(workspace_id, [event])


# Events per channel-layer message: a batch's events travel together (one PUBLISH, one message
# for each daphne process to unpack), in messages of at most this many.
EVENTS_PER_LAYER_MESSAGE = 100


def layer_messages(texts: list[str]) -> list[dict]:
    """The channel-layer messages carrying these frames: `text` for one, `texts` for several (the
    consumer's fan-out takes both)."""
    if len(texts) == 1:
        return [{"type": "workspace.event", "text": texts[0]}]
    return [
        {"type": "workspace.event", "texts": texts[i : i + EVENTS_PER_LAYER_MESSAGE]}
        for i in range(0, len(texts), EVENTS_PER_LAYER_MESSAGE)
    ]


class _SyncPubSub:
    """PUBLISH to the Redis pub/sub channel layer from sync code, on the caller's thread: the
    channel names and the serialization are the layer's own, so daphne's subscriptions receive it
    as from the layer's group_send. One round trip per publish; before, each went through a
    thread running an event loop (a hand-off and a wait each way, more than the PUBLISH itself)."""

    def __init__(self, layer: RedisPubSubChannelLayer):
        config = layer._kwargs
        self.prefix = config.get("prefix", "asgi")
        self.serialize = layer.serialize
        # One client per host, made once: building a redis.Redis (its table of response
        # callbacks) cost more than the PUBLISH it sent.
        self.clients = []
        hosts = decode_hosts(config.get("hosts"))
        # One Redis, the one of REDIS_URL (the same database too): commands for REDIS_URL may
        # ride along with a publish (PUBLISH itself ignores the database).
        self.on_redis_url = (
            len(hosts) == 1 and bool(settings.REDIS_URL) and hosts[0].get("address") == settings.REDIS_URL
        )
        for host in hosts:
            options = dict(host)
            if "address" in options:
                pool = redis.ConnectionPool.from_url(options.pop("address"), **options)
            else:
                pool = redis.ConnectionPool(**options)
            self.clients.append(redis.Redis(connection_pool=pool))

    def publish(
        self, group: str, messages: list[dict], extra: Callable[[Any], None] | None = None
    ) -> list | None:
        """PUBLISH `messages`; with `extra` (on REDIS_URL's Redis only), its commands in the same
        pipeline: answers their results, or None when they were not sent."""
        channel = f"{self.prefix}__group__{group}"
        client = self.clients[_consistent_hash(channel, len(self.clients))]
        if extra is not None and not self.on_redis_url:
            extra = None
        if len(messages) == 1 and extra is None:
            client.publish(channel, self.serialize(messages[0]))
            return None
        with client.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(channel, self.serialize(message))
            if extra is not None:
                extra(pipe)
            results = pipe.execute()
        return results[len(messages) :] if extra is not None else None


_sync_pubsub: dict[tuple[int, int], _SyncPubSub | None] = {}


def _sync_publisher(layer) -> _SyncPubSub | None:
    """The sync publisher of this process for `layer`, or None when it has none (another layer,
    a Sentinel setup): those publish through the layer's own async API."""
    key = (os.getpid(), id(layer))
    if key not in _sync_pubsub:
        publisher = None
        if isinstance(layer, RedisPubSubChannelLayer):
            hosts = decode_hosts(layer._kwargs.get("hosts"))
            if not any("master_name" in host for host in hosts):
                publisher = _SyncPubSub(layer)
        _sync_pubsub[key] = publisher
    return _sync_pubsub[key]


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a thread of its own, for publishing from sync code through
    the layer's async API (the list-based Redis layer).

    async_to_sync without a running loop makes a new loop and thread per call, and channels-redis
    a new Redis connection per loop: about a millisecond and a connection for every event. The pid
    check makes a forked child (gunicorn, Celery prefork) start its own loop."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="event-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


def publish_events(
    workspace_id: str, events: list[dict], *, extra: Callable[[Any], None] | None = None
) -> list | None:
    """Publish `events` to the workspace's group and its sinks. `extra`: commands for REDIS_URL
    to send in the publish's round trip (see messages_created); answers their results, or None
    when they were not sent."""
    answers = None
    try:
        layer = get_channel_layer()
        if layer is not None:
            group = workspace_group(workspace_id)
            # The frame's JSON text is made once here, not once per connected client: a daphne
            # process sends it to each of its sockets as it is.
            messages = layer_messages([event_text(event) for event in events])
            publisher = _sync_publisher(layer)
            if publisher is not None:
                answers = publisher.publish(group, messages, extra)
            else:

                async def send_all() -> None:
                    for message in messages:
                        await layer.group_send(group, message)

                if isinstance(layer, RedisChannelLayer):  # its state is in Redis: any loop
                    asyncio.run_coroutine_threadsafe(send_all(), _publisher_loop()).result(PUBLISH_TIMEOUT)
                else:  # the in-memory layer must run on the loop of its consumers
                    async_to_sync(send_all)()
    except Exception:
        logger.exception("Could not publish %d event(s) to the channel layer", len(events))
    for sink in EVENT_SINKS:
        try:
            sink(workspace_id, events)
        except Exception:
            logger.exception("Event sink %s failed for %d event(s)", sink, len(events))
    return answers
