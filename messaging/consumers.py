"""The workspace WebSocket: `/ws/workspaces/{workspaceId}/` streams the workspace's message events.

Who may connect is decided once, before the socket is accepted (a refusal is an HTTP 403 at the
handshake): a Bearer session token of a member, a Bearer API key of the workspace, or the browser's
cookie session of a member with an Origin this installation serves. Credentials revoked later are
not re-checked for an open socket; it ends when the client reconnects. Close codes and frames are
in docs/events.md.
"""

import asyncio
import json
import logging
import weakref
from datetime import UTC, datetime
from urllib.parse import urlsplit

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.dateparse import parse_datetime

from accounts.services import session_token_authenticate
from messaging_platform.errors import DomainError
from messaging_platform.ids import new_id
from messaging_platform.websocket_server import SERVER_SEND
from workspaces.models import Workspace
from workspaces.selectors import access_workspace
from workspaces.services import API_KEY_PREFIX, api_key_authenticate

from .events import MESSAGE_UPDATED, event_text, workspace_group
from .models import Message
from .serializers import MessageSerializer

logger = logging.getLogger(__name__)

CLOSE_BAD_FRAME = 4400
MAX_FRAME_BYTES = 4096


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str | None) -> bool:
    """Whether a browser page at `origin` may use the cookie session (stops cross-site WebSocket
    hijacking: browsers send cookies with a WebSocket from any site, but always send Origin)."""
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    domain, _port = split_domain_port(parts.netloc)
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return bool(domain) and validate_host(domain, allowed)


def _authorize(workspace_id: str, bearer: str | None, cookie_user) -> str | None:
    """The workspace id the connection may follow, or None. Runs in a thread (DB work)."""
    if bearer is not None:
        if bearer.startswith(API_KEY_PREFIX):
            api_key = api_key_authenticate(bearer)
            ok = api_key is not None and api_key.workspace_id == workspace_id
            return workspace_id if ok else None
        session = session_token_authenticate(bearer)
        user = session.user if session is not None else None
    else:
        user = cookie_user if cookie_user is not None and cookie_user.is_authenticated else None
    if user is None:
        return None
    try:
        access_workspace(user=user, workspace_id=workspace_id)  # also refuses disabled workspaces
    except DomainError:
        return None
    return workspace_id


def _catch_up(workspace_id: str, since: datetime, limit: int) -> tuple[list[dict], bool]:
    workspace = Workspace(pk=workspace_id)
    messages = list(
        Message.objects.for_workspace(workspace)
        .filter(updated_at__gt=since)
        .order_by("updated_at", "pk")[: limit + 1]
    )
    return [MessageSerializer(m).data for m in messages[:limit]], len(messages) > limit


def frames_of(message: dict) -> list[str]:
    """The frames a `workspace.event` layer message carries: one (`text`), several (`texts`, a
    batch's events published together) or, from a publisher of an earlier release, one `event`."""
    texts = message.get("texts")
    if texts is not None:
        return texts
    text = message.get("text")
    return [text if text is not None else event_text(message["event"])]


class _Fanout:
    """One channel-layer subscription per workspace and event loop (per daphne process), handing
    each event's text to every socket of that workspace in the process.

    Subscribing every consumer to the group costs, per socket and event, a layer queue, a task
    wake-up and a dispatch: bench/ws.py measured that at more than half of daphne's CPU per frame.
    Here the sockets are written one after another by one task; daphne buffers each write, so a
    slow client does not hold up the others."""

    def __init__(self, layer, group: str, channel: str) -> None:
        self.members: set[WorkspaceConsumer] = set()
        self.task = asyncio.ensure_future(self._run(layer, group, channel))

    async def _run(self, layer, group: str, channel: str) -> None:
        pending: asyncio.Queue = asyncio.Queue()
        writer = asyncio.ensure_future(self._write(pending))
        try:
            while True:
                try:
                    message = await layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("Could not receive from the channel layer for %s", group)
                    await asyncio.sleep(1)
                    continue
                if message.get("type") == "workspace.event":
                    pending.put_nowait(message)
        finally:
            writer.cancel()
            try:
                await layer.group_discard(group, channel)
            except Exception:
                logger.warning("Could not leave %s on the channel layer", group, exc_info=True)

    async def _write(self, pending: asyncio.Queue) -> None:
        """Write what arrived to every socket. Events that queued up while the sockets were being
        written (a busy process) are written together: each socket gets all of them before the
        next socket, and daphne sends a socket's buffered frames in one write."""
        while True:
            messages = [await pending.get()]
            while not pending.empty():
                messages.append(pending.get_nowait())
            # One ASGI message per frame for every socket (the server only reads it), handed to
            # the server's send directly (messaging_platform/websocket_server.py).
            frames = [
                {"type": "websocket.send", "text": text}
                for message in messages
                for text in frames_of(message)
            ]
            for consumer in list(self.members):
                send = consumer.server_send
                try:
                    for frame in frames:
                        await send(frame)
                except Exception:  # a socket closing under us; its disconnect removes it
                    logger.debug("Could not send to %s", consumer.channel_name, exc_info=True)


# Per event loop: the test client runs each test in a loop of its own.
_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Fanout]] = (
    weakref.WeakKeyDictionary()
)


async def _fanout(layer, group: str) -> _Fanout:
    fanouts = _fanouts.setdefault(asyncio.get_running_loop(), {})
    if group not in fanouts:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        if group in fanouts:  # another connection of the workspace got there meanwhile
            await layer.group_discard(group, channel)
        else:
            fanouts[group] = _Fanout(layer, group, channel)
    return fanouts[group]


def _fanout_leave(group: str, consumer: "WorkspaceConsumer") -> None:
    fanouts = _fanouts.get(asyncio.get_running_loop(), {})
    fanout = fanouts.get(group)
    if fanout is not None:
        fanout.members.discard(consumer)
        if not fanout.members:
            del fanouts[group]
            fanout.task.cancel()


class WorkspaceConsumer(AsyncWebsocketConsumer):
    workspace_id: str | None = None

    @property
    def server_send(self):
        """The server's send for this socket's frames (past the middlewares), else the usual."""
        return self.scope.get(SERVER_SEND) or self.base_send

    async def connect(self) -> None:
        workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        authorization = _header(self.scope, b"authorization")
        bearer = None
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await self.close()
                return
            bearer = token.strip()
        cookie_user = None
        if bearer is None:
            if not origin_allowed(_header(self.scope, b"origin")):
                await self.close()  # a cookie from a page of another site: refused
                return
            cookie_user = self.scope.get("user")
        allowed = await database_sync_to_async(_authorize)(workspace_id, bearer, cookie_user)
        if allowed is None:
            await self.close()  # before accept: the client sees HTTP 403
            return
        self.workspace_id = allowed
        group = workspace_group(allowed)
        await _fanout(self.channel_layer, group)  # before accepting: a dead layer refuses it
        await self.accept()
        (await _fanout(self.channel_layer, group)).members.add(self)

    async def disconnect(self, code: int) -> None:
        if self.workspace_id is not None:
            _fanout_leave(workspace_group(self.workspace_id), self)

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch runs close_old_connections before every handler, through
        # sync_to_async (thread-sensitive: one shared thread): a thread hop per client per event,
        # 20,000 a second for 1,000 clients at 20 events/s, which one thread cannot keep up with.
        # These handlers reach the database only through database_sync_to_async, which closes
        # old connections around each call itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def workspace_event(self, message: dict) -> None:
        # The publisher serialized the frame once for every client; an "event" dict comes from a
        # publisher of the previous release during a deploy.
        for text in frames_of(message):
            await self.send(text_data=text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            await self._refuse("Frames must be JSON text of at most 4096 bytes.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._refuse("Malformed JSON.")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "ping":
            await self._send_json({"type": "pong"})
        elif kind == "catch_up":
            await self._catch_up(frame)
        else:
            await self._refuse("Unknown frame type; expected ping or catch_up.")

    async def _catch_up(self, frame: dict) -> None:
        raw = frame.get("since")
        try:
            since = parse_datetime(raw) if isinstance(raw, str) else None
        except ValueError:
            since = None
        if since is None:
            await self._refuse("catch_up needs `since`, an ISO 8601 date-time.")
            return
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        limit = settings.WEBSOCKET_CATCH_UP_LIMIT
        messages, more = await database_sync_to_async(_catch_up)(self.workspace_id, since, limit)
        for data in messages:
            await self._send_json({"id": new_id("evt"), "type": MESSAGE_UPDATED, "data": data})
        await self._send_json({"type": "catch_up.done", "count": len(messages), "more": more})

    async def _refuse(self, reason: str) -> None:
        await self.close(code=CLOSE_BAD_FRAME, reason=reason)

    async def _send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, default=str))
