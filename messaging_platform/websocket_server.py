"""The WebSocket server's per-frame cost: what the platform changes in daphne's stack (autobahn).

autobahn's `WebSocketProtocol.sendData` passes `hltype(...)` and `hlval(...)` to a debug log call
for every frame it writes; Python evaluates those arguments before the logger drops the line, and
each styles its text with click's ANSI colours. At 20,000 frames a second (1,000 sockets of one
workspace, 20 events a second) that formatting was a large share of daphne's CPU per frame
(bench/ws.py, py-spy). `plain_debug_labels()` has autobahn's protocol module label its debug lines
with plain text instead: the same words, without colours, at a fraction of the cost.
"""

import logging

logger = logging.getLogger(__name__)


def _plain_type(obj) -> str:
    name = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    return f"<{module}.{name}>" if name and module else "<unknown>"


def _plain_value(value, color: str = "white", bold: bool = True) -> str:
    return f"{value}"


def plain_debug_labels() -> None:
    try:
        from autobahn.websocket import protocol
    except ImportError:  # no WebSocket server in this process
        return
    if hasattr(protocol, "hltype") and hasattr(protocol, "hlval"):
        protocol.hltype = _plain_type
        protocol.hlval = _plain_value
    else:
        logger.info("autobahn's protocol module has no hltype/hlval: nothing to change")


SERVER_SEND = "mp.server_send"


class ServerSendInScope:
    """The outermost ASGI middleware of the WebSocket router: puts the server's own `send` in the
    scope (`scope["mp.server_send"]`), so that the workspace fan-out can hand each frame straight
    to daphne. The middlewares between add nothing to a `websocket.send` (the session middleware
    only saves on HTTP responses, the metrics middleware counts accepts), yet cost a third of
    daphne's CPU per frame at 1,000 sockets (py-spy on bench/ws.py)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        return await self.inner({**scope, SERVER_SEND: send}, receive, send)
