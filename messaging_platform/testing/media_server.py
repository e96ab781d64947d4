"""A small HTTP server on loopback serving media files for tests: the carrier's (or a sender's)
media URLs. Paths: /ok.png, /photo.jpg, /evil.svg, /lying.png (HTML named image/png), /big.png
(over the limit the test sets), /moved (a redirect to /ok.png), /missing (404)."""

from __future__ import annotations

import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _png(width: int = 8, height: int = 6) -> bytes:
    """A valid red PNG of this size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png()
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


class MediaServer:
    def __init__(self, big_size: int = 64 * 1024):
        files = {
            "/ok.png": ("image/png", PNG),
            "/evil.svg": ("image/svg+xml", SVG),
            "/lying.png": ("image/png", b"<html><script>alert(1)</script></html>"),
            "/big.png": ("image/png", PNG + b"\0" * big_size),
        }
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/ok.png")
                    self.end_headers()
                    return
                if self.path not in files:
                    self.send_error(404)
                    return
                content_type, body = files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MediaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
