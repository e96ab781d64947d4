"""An application's web server on loopback, for the tests: records every request Twilio (here, the
platform) makes to it and answers with a fixed body, TwiML or not."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]


class AppServer:
    def __init__(self, *, answer: str = "", content_type: str = "text/xml", status: int = 200):
        self.answer, self.content_type, self.status = answer, content_type, status
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                query = urlsplit(self.path).query
                params = dict(parse_qsl(body if self.command == "POST" else query, keep_blank_values=True))
                with app._lock:
                    app.requests.append(
                        Request(
                            self.command,
                            app.base + self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            params,
                        )
                    )
                    status = app.status
                data = app.answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", app.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _record  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def wait_for(self, ready, timeout: float = 20.0, what: str = "requests") -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [r for r in self.requests if ready(r)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout}s; got {self.requests!r}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
