"""gunicorn's sync worker, with gunicorn's own refusals in the API's error format.

gunicorn answers some requests itself before Django sees them (a request line or a header over
its limits, a malformed request line): as an HTML page. Such a request may not even have a path
to route by, so every such answer is JSON, `{"error", "detail"}`, like the API's.
"""

import json

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

_CODES = {
    400: "invalid_params",
    403: "forbidden",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps({"error": _CODES.get(status_int, "invalid_params"), "detail": mesg or reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)


class JsonErrorSyncWorker(SyncWorker):
    def handle_error(self, req, client, addr, exc):
        # The base class picks the status and message, then writes through util.write_error.
        original, util.write_error = util.write_error, write_json_error
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            util.write_error = original
