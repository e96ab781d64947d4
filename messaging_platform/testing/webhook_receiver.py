"""A webhook receiver on loopback for tests: records every POST, can fail the first attempts of
each event, answer slowly or redirect. It knows nothing of the platform's code: signatures are
checked by the tests with the independent `standardwebhooks` library."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class WebhookReceiver:
    def __init__(
        self,
        *,
        fail_first: int = 0,
        fail_status: int = 500,
        delay: float = 0.0,
        status: int = 200,
        redirect_to: str | None = None,
    ):
        self.fail_first = fail_first  # per webhook-id
        self.fail_status = fail_status
        self.delay = delay
        self.status = status
        self.redirect_to = redirect_to
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            earlier = sum(1 for r in self.received if r.webhook_id == headers.get("webhook-id"))
            status = self.fail_status if earlier < self.fail_first else self.status
            if self.redirect_to:
                status = 302
            self.received.append(Received(headers=headers, body=body, status=status))
        if self.delay:
            self._stop.wait(self.delay)
        try:
            handler.send_response(status)
            if self.redirect_to:
                handler.send_header("Location", self.redirect_to)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        except OSError:
            pass  # the platform gave up waiting

    def successes(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
