"""Daphne (4.2) drops the `reason` of an ASGI `websocket.close` and closes with the code alone,
so a client never learns why its socket was closed (docs/events.md promises a reason with 4400).
`install()` makes daphne's protocol send the reason along, as the ASGI spec (2.3) says."""

# RFC 6455: a close frame's payload is at most 125 bytes, two of them the code.
MAX_REASON_BYTES = 123


def _short(reason: str) -> str:
    data = reason.encode()[:MAX_REASON_BYTES]
    return data.decode(errors="ignore")


def install() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server
        return
    if getattr(WebSocketProtocol, "_sends_close_reason", False):
        return
    original = WebSocketProtocol.handle_reply

    def handle_reply(self, message):
        if (
            message.get("type") == "websocket.close"
            and message.get("reason")
            and self.state != self.STATE_CONNECTING
        ):
            self.sendClose(code=message.get("code") or 1000, reason=_short(message["reason"]))
            return
        original(self, message)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol._sends_close_reason = True
