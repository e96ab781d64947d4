"""Telling the world: every created or changed message is published once, after commit, to the
workspace's Channels group (WebSocket clients) and to the workspace's event sinks (webhooks).

A failure to publish is logged, never raised into the request or task that changed the message.
"""

import logging
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from messaging_platform.ids import new_id

logger = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"

# Other parts of the platform (outbound webhooks) subscribe here: sink(workspace_id, event).
EVENT_SINKS: list[Callable[[str, dict], None]] = []


def workspace_group(workspace_id: str) -> str:
    """The Channels group of a workspace (dots, not colons: channels-redis group-name rules)."""
    return f"workspace.{workspace_id}"


def message_created(message) -> None:
    _publish_on_commit(message, MESSAGE_CREATED)


def message_updated(message) -> None:
    _publish_on_commit(message, MESSAGE_UPDATED)


def _publish_on_commit(message, event_type: str) -> None:
    def publish() -> None:
        from .serializers import MessageSerializer

        event = {"id": new_id("evt"), "type": event_type, "data": MessageSerializer(message).data}
        publish_event(message.workspace_id, event)

    transaction.on_commit(publish)


def publish_event(workspace_id: str, event: dict) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                workspace_group(workspace_id), {"type": "workspace.event", "event": event}
            )
    except Exception:
        logger.exception("Could not publish %s to the channel layer", event["type"])
    for sink in EVENT_SINKS:
        try:
            sink(workspace_id, event)
        except Exception:
            logger.exception("Event sink %s failed for %s", sink, event["type"])
