"""Telling the world: every created or changed message is published once, after commit, to the
workspace's Channels group (WebSocket clients) and to the workspace's event sinks (webhooks).

A failure to publish is logged, never raised into the request or task that changed the message.
"""

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction

from messaging_platform.ids import new_id

logger = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
PUBLISH_TIMEOUT = 5  # seconds: a stuck Redis must not hold a request or task for long

# Other parts of the platform (outbound webhooks) subscribe here: sink(workspace_id, events), with
# the events published together (one for a single change, a batch's worth for a batch).
EVENT_SINKS: list[Callable[[str, list[dict]], None]] = []


def workspace_group(workspace_id: str) -> str:
    """The Channels group of a workspace (dots, not colons: channels-redis group-name rules)."""
    return f"workspace.{workspace_id}"


def message_created(message) -> None:
    _publish_on_commit(message, MESSAGE_CREATED)


def message_updated(message) -> None:
    _publish_on_commit(message, MESSAGE_UPDATED)


def messages_created(messages: list, workspace_id: str) -> None:
    """A batch's messages of one workspace, published after commit in one trip to the channel
    layer (one async_to_sync per event would start a thread per message)."""

    def publish() -> None:
        from .serializers import message_data

        publish_events(workspace_id, [{"id": new_id("evt"), "type": MESSAGE_CREATED,
                                       "data": message_data(m)} for m in messages])

    transaction.on_commit(publish)


def _publish_on_commit(message, event_type: str) -> None:
    def publish() -> None:
        from .serializers import message_data

        data = message_data(message)
        publish_event(message.workspace_id, {"id": new_id("evt"), "type": event_type, "data": data})

    transaction.on_commit(publish)


def event_text(event: dict) -> str:
    """The WebSocket frame of an event: {"id", "type", "data"} as JSON text."""
    return json.dumps({"id": event["id"], "type": event["type"], "data": event["data"]}, default=str)


def publish_event(workspace_id: str, event: dict) -> None:
    publish_events(workspace_id, [event])


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a thread of its own, for publishing from sync code.

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


def publish_events(workspace_id: str, events: list[dict]) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            group = workspace_group(workspace_id)

            # The frame's JSON text is made once here, not once per connected client: a daphne
            # process sends it to each of its sockets as it is.
            texts = [event_text(event) for event in events]

            async def send_all() -> None:
                for text in texts:
                    await layer.group_send(group, {"type": "workspace.event", "text": text})

            # Safe from any loop: the state is in Redis (the pub/sub layer keeps one connection
            # per event loop).
            if isinstance(layer, RedisChannelLayer | RedisPubSubChannelLayer):
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
