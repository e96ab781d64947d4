"""A fake Telnyx Messages API v2 on loopback for tests: the platform's Telnyx adapter talks to it
over real HTTP (settings.TELNYX_API_BASE_URL), and it signs its webhooks with a test Ed25519 key
exactly as Telnyx does (base64 Ed25519 over "<telnyx-timestamp>|<raw body>"). No Django needed.

    with FakeTelnyx(callbacks=True) as fake:
        account = fake.add_account(numbers=["+12025550100"])   # api_key, profile id
        ...  # TELNYX_API_BASE_URL=fake.base_url; public key: fake.public_key
        fake.wait_for_messages(1); fake.post_inbound(url, from_number=, to_number=, text=)
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass
class FakeTelnyxAccount:
    api_key: str
    messaging_profile_id: str
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record
    profile_webhook_url: str = ""


@dataclass
class SentMessage:
    id: str
    to: str
    from_number: str
    text: str
    media_urls: list[str]
    webhook_url: str
    status: str = "queued"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeTelnyx:
    def __init__(self, *, callbacks: bool = False, callback_delay: float = 0.0):
        self._private_key = Ed25519PrivateKey.generate()
        raw = self._private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode()
        self.callbacks = callbacks
        self.callback_delay = callback_delay
        self.accounts: dict[str, FakeTelnyxAccount] = {}
        self.messages: list[SentMessage] = []
        self.callbacks_sent: list[tuple[str, int]] = []  # (url, answer status)
        self.rejected_recipients: dict[str, tuple[int, str, str]] = {}  # to -> (status, code, detail)
        self.outcomes: dict[str, tuple[str, str | None]] = {}  # to -> (final status, error code)
        self.down = False
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._executor: ThreadPoolExecutor | None = None

    # lifecycle

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTelnyx:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._executor = ThreadPoolExecutor(4)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._executor:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FakeTelnyx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # setup and inspection

    def add_account(self, *, numbers: Sequence[str] = ()) -> FakeTelnyxAccount:
        account = FakeTelnyxAccount(
            api_key="KEY" + secrets.token_hex(16), messaging_profile_id=str(uuid.uuid4())
        )
        for number in numbers:
            number_id = str(10**18 + len(account.numbers) + secrets.randbelow(10**17))
            account.numbers[number_id] = {
                "id": number_id,
                "record_type": "phone_number",
                "phone_number": number,
                "status": "active",
                "phone_number_type": "local",
                "connection_id": None,
                "messaging_profile_id": None,
                "connection_name": "",
            }
        self.accounts[account.api_key] = account
        return account

    def reject_recipient(
        self, to: str, *, status: int = 422, code: str = "40310", detail: str = "Invalid 'to' address"
    ) -> None:
        self.rejected_recipients[to] = (status, code, detail)

    def set_delivery_outcome(self, to: str, status: str, error_code: str | None = None) -> None:
        self.outcomes[to] = (status, error_code)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.messages) >= count, timeout), self.messages
            return list(self.messages)

    def wait_for_callbacks(self, count: int, timeout: float = 10.0) -> list[tuple[str, int]]:
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.callbacks_sent) >= count, timeout), (
                self.callbacks_sent
            )
            return list(self.callbacks_sent)

    # webhooks, signed as Telnyx signs them

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._private_key.sign(stamp.encode() + b"|" + body)
        return {
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": stamp,
            "Content-Type": "application/json",
        }

    def post_event(
        self, url: str, event_type: str, payload: dict[str, Any], *, timeout: float = 10.0
    ) -> requests.Response:
        body = json.dumps(
            {
                "data": {
                    "record_type": "event",
                    "id": str(uuid.uuid4()),
                    "event_type": event_type,
                    "occurred_at": _now(),
                    "payload": payload,
                },
                "meta": {"attempt": 1, "delivered_to": url},
            }
        ).encode()
        response = requests.post(url, data=body, headers=self.sign(body), timeout=timeout)
        with self._lock:
            self.callbacks_sent.append((url, response.status_code))
            self._lock.notify_all()
        return response

    def post_inbound(
        self,
        url: str,
        *,
        from_number: str,
        to_number: str,
        text: str = "",
        media_urls: Sequence[str] = (),
        message_id: str | None = None,
    ) -> requests.Response:
        account = next(
            (
                a
                for a in self.accounts.values()
                if any(n["phone_number"] == to_number for n in a.numbers.values())
            ),
            None,
        )
        payload = {
            "record_type": "message",
            "direction": "inbound",
            "id": message_id or str(uuid.uuid4()),
            "type": "MMS" if media_urls else "SMS",
            "messaging_profile_id": account.messaging_profile_id if account else None,
            "from": {"phone_number": from_number, "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"},
            "to": [
                {
                    "phone_number": to_number,
                    "status": "webhook_delivered",
                    "carrier": "TELNYX LLC",
                    "line_type": "VoIP",
                }
            ],
            "text": text,
            "media": [{"url": u, "content_type": "image/jpeg"} for u in media_urls],
            "received_at": _now(),
            "encoding": "GSM-7",
            "parts": 1,
            "errors": [],
        }
        return self.post_event(url, "message.received", payload)

    def status_payload(
        self, message: SentMessage, status: str, error_code: str | None = None
    ) -> dict[str, Any]:
        errors = (
            [{"code": error_code, "title": "Delivery failed", "detail": f"Carrier error {error_code}"}]
            if error_code
            else []
        )
        return {
            "record_type": "message",
            "direction": "outbound",
            "id": message.id,
            "type": "SMS",
            "from": {"phone_number": message.from_number},
            "to": [{"phone_number": message.to, "status": status}],
            "text": message.text,
            "errors": errors,
            "completed_at": _now() if status != "sent" else None,
        }

    def _post_callbacks(self, message: SentMessage) -> None:
        final, code = self.outcomes.get(message.to, ("delivered", None))
        for event_type, status, error in (("message.sent", "sent", None), ("message.finalized", final, code)):
            if self.callback_delay:
                time.sleep(self.callback_delay)
            message.status = status
            try:
                self.post_event(message.webhook_url, event_type, self.status_payload(message, status, error))
            except requests.RequestException:
                with self._lock:
                    self.callbacks_sent.append((message.webhook_url, 0))

    # the REST API

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if self.down:
            return self._answer(handler, 503, {"errors": [{"code": "10007", "title": "Unexpected error"}]})
        auth = handler.headers.get("Authorization", "")
        account = self.accounts.get(auth.removeprefix("Bearer ").strip())
        if account is None:
            return self._answer(
                handler, 401, {"errors": [{"code": "10009", "title": "Authentication failed"}]}
            )
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._answer(handler, 400, {"errors": [{"code": "10015", "title": "Bad Request"}]})
        parts = split.path.strip("/").split("/")
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        if method == "POST" and parts == ["v2", "messages"]:
            return self._send(handler, account, body)
        if method == "GET" and parts[:2] == ["v2", "messages"] and len(parts) == 3:
            found = next((m for m in self.messages if m.id == parts[2]), None)
            if found is None:
                return self._answer(
                    handler, 404, {"errors": [{"code": "10005", "title": "Resource not found"}]}
                )
            final, code = self.outcomes.get(found.to, ("delivered", None))
            return self._answer(handler, 200, {"data": self.status_payload(found, final, code)})
        if method == "GET" and parts == ["v2", "balance"]:
            return self._answer(
                handler, 200, {"data": {"record_type": "balance", "balance": "100.00", "currency": "USD"}}
            )
        if method == "GET" and parts == ["v2", "phone_numbers"]:
            size = int(query.get("page[size]", 20))
            page = int(query.get("page[number]", 1))
            records = list(account.numbers.values())
            chunk = records[(page - 1) * size : page * size]
            total_pages = max(1, -(-len(records) // size))
            return self._answer(
                handler,
                200,
                {
                    "data": chunk,
                    "meta": {
                        "total_pages": total_pages,
                        "total_results": len(records),
                        "page_number": page,
                        "page_size": size,
                    },
                },
            )
        if method == "PATCH" and parts[:2] == ["v2", "phone_numbers"] and parts[3:] == ["messaging"]:
            record = account.numbers.get(parts[2]) or next(
                (n for n in account.numbers.values() if n["phone_number"] == parts[2]), None
            )
            if record is None:
                return self._answer(
                    handler, 404, {"errors": [{"code": "10005", "title": "Resource not found"}]}
                )
            record["messaging_profile_id"] = body.get("messaging_profile_id")
            return self._answer(handler, 200, {"data": record})
        if method == "PATCH" and parts[:2] == ["v2", "messaging_profiles"] and len(parts) == 3:
            if parts[2] != account.messaging_profile_id:
                return self._answer(
                    handler, 404, {"errors": [{"code": "10005", "title": "Resource not found"}]}
                )
            account.profile_webhook_url = str(body.get("webhook_url") or "")
            return self._answer(
                handler, 200, {"data": {"id": parts[2], "webhook_url": account.profile_webhook_url}}
            )
        return self._answer(handler, 404, {"errors": [{"code": "10005", "title": "Not found"}]})

    def _send(
        self, handler: BaseHTTPRequestHandler, account: FakeTelnyxAccount, body: dict[str, Any]
    ) -> None:
        to = str(body.get("to") or "")
        if not to:
            return self._answer(
                handler,
                422,
                {
                    "errors": [
                        {"code": "10004", "title": "Missing required parameter", "detail": "to is required"}
                    ]
                },
            )
        if to in self.rejected_recipients:
            status, code, detail = self.rejected_recipients[to]
            return self._answer(
                handler, status, {"errors": [{"code": code, "title": detail, "detail": detail}]}
            )
        sender = str(body.get("from") or "")
        ours = [n["phone_number"] for n in account.numbers.values()]
        if sender and sender not in ours:
            return self._answer(
                handler,
                422,
                {
                    "errors": [
                        {
                            "code": "40305",
                            "title": "Invalid 'from' address",
                            "detail": "The 'from' number is not a number of this account.",
                        }
                    ]
                },
            )
        if not sender:
            if body.get("messaging_profile_id") != account.messaging_profile_id or not ours:
                return self._answer(
                    handler,
                    422,
                    {
                        "errors": [
                            {
                                "code": "40305",
                                "title": "Invalid 'from' address",
                                "detail": "No sender: give 'from' or a messaging profile with numbers.",
                            }
                        ]
                    },
                )
            sender = ours[0]
        message = SentMessage(
            id=str(uuid.uuid4()),
            to=to,
            from_number=sender,
            text=str(body.get("text") or ""),
            media_urls=list(body.get("media_urls") or []),
            webhook_url=str(body.get("webhook_url") or ""),
        )
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()
        if self.callbacks and message.webhook_url and self._executor is not None:
            self._executor.submit(self._post_callbacks, message)
        self._answer(handler, 200, {"data": self.status_payload(message, "queued")})

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
