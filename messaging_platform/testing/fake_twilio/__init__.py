"""A fake Twilio REST API on loopback, for tests and benchmarks.

It answers the calls the official `twilio` library makes for this platform (message create, fetch
and list, account fetch, incoming phone numbers list/fetch/update) with Twilio-shaped JSON and
Twilio-style errors, records every accepted message, can misbehave on demand (latency, failures, outage, slow
answers, per-sender rate limits), and can post status callbacks and inbound messages signed exactly
as Twilio signs them. It is a lean asyncio HTTP server (messaging_platform.testing.http_server)
on an event loop in a thread of its own, posting its callbacks on keep-alive pools
(messaging_platform.keepalive_http), so it answers thousands of sends a second at a small part
of the platform's CPU and posts callbacks concurrently; its state and knobs
are plain attributes behind a lock, used from any thread. It needs no Django, so bench/ scripts
can use it as they are:

    with FakeTwilio(callbacks=True) as fake:
        account = fake.add_account(numbers=["+12025550100"])
        # TWILIO_API_BASE_URL=fake.base_url for the platform's processes
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import math
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import requests

from ...keepalive_http import HttpConnectionError, KeepAlivePool
from ..http_server import Answer, HttpServer
from ..twilio_params import (
    API_VERSION,
    SIGNATURE_HEADER,
    compute_signature,
    inbound_params,
    new_sid,
    possible_e164,
    segments,
    signature_headers,
    signed_post,
    status_params,
)

__all__ = [
    "API_VERSION",
    "SIGNATURE_HEADER",
    "CallbackRecord",
    "FakeAccount",
    "FakeNumber",
    "FakeTwilio",
    "RequestRecord",
    "SentMessage",
    "compute_signature",
    "inbound_params",
    "new_sid",
    "segments",
    "signature_headers",
    "signed_post",
    "status_params",
]


from .records import (  # noqa: E402 - the records, then the server that keeps them
    _ACCOUNT_PATH,
    _MESSAGE_PATH,
    _NUMBER_PATH,
    CallbackRecord,
    FakeAccount,
    FakeNumber,
    RequestRecord,
    SentMessage,
    _ApiError,
    _Bucket,
    _day,
    _Failure,
    _page,
)
from .resources import account_json, message_json, number_json  # noqa: E402

# A recipient's number is checked once (phonenumbers' parse costs more than the rest of a send).
_possible_e164 = functools.lru_cache(maxsize=65536)(possible_e164)

# --- the server -------------------------------------------------------------------------------


class FakeTwilio:
    """A Twilio REST API double on 127.0.0.1. Start it, point TWILIO_API_BASE_URL at `.base_url`.

    Knobs (safe to change while it runs): `latency` (seconds added to every answer), `down`
    (answer 503 to everything), `slow` (sleep `slow_seconds` before answering, to trip client
    timeouts), `fail_next()`, `set_rate_limit()` / `default_rate_limit`, `reject_recipient()`,
    `set_delivery_outcome()`, `set_message_status()`, `callbacks` (post `sent` and `delivered`
    status callbacks). A message fetched or listed shows its delivery outcome (`delivered` unless
    set otherwise), whether or not a status callback reached anyone.
    """

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        callbacks: bool = False,
        callback_delay: float = 0.0,
        callback_workers: int = 4,
        slow_seconds: float = 30.0,
        default_rate_limit: float | None = None,
    ):
        self.host, self.port = host, port
        self.latency = latency
        self.callbacks = callbacks
        self.callback_delay = callback_delay
        self.callback_workers = callback_workers
        self.slow = False
        self.slow_seconds = slow_seconds
        self.down = False
        self.default_rate_limit = default_rate_limit
        self.max_page_size = 1000  # Twilio's cap; lower it to exercise a client's paging
        self.accounts: dict[str, FakeAccount] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._messages: list[SentMessage] = []
        self._callbacks: list[CallbackRecord] = []
        self._requests: list[RequestRecord] = []
        self._failures: deque[_Failure] = deque()
        self._buckets: dict[str, _Bucket] = {}
        self._rate_limits: dict[str, tuple[float, float]] = {}
        self._recipient_errors: dict[str, tuple[int, int, str]] = {}
        self._outcomes: dict[str, tuple[str, str | None]] = {}
        self._statuses: dict[str, tuple[str, str | None]] = {}  # by message sid, overrides outcomes
        self._pool_cursor = itertools.count()
        self.sends_by_sender: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()  # 429s answered, per sender
        self.connections_opened = 0  # TCP connections accepted: keep-alive clients open few
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HttpServer | None = None
        self._callback_pools: dict[str, KeepAlivePool] = {}
        self._callback_slots: asyncio.Semaphore | None = None
        self._callback_tasks: set[asyncio.Task] = set()
        for sid, token in (accounts or {}).items():
            self.add_account(sid, token)

    # lifecycle

    def start(self) -> FakeTwilio:
        self._stopping.clear()
        listener = socket.create_server((self.host, self.port), backlog=2048)
        self.port = listener.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(listener, ready), name="fake-twilio", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        return self

    def _run(self, listener: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)

        async def serve() -> None:
            self._server = HttpServer(self._handle, on_connection=self._connection_opened)
            await self._server.start(listener)
            self._callback_slots = asyncio.Semaphore(self.callback_workers)

        loop.run_until_complete(serve())
        loop.call_soon(ready.set)  # only once run_forever runs can stop() stop it
        loop.run_forever()
        loop.run_until_complete(self._shutdown())
        loop.close()

    async def _shutdown(self) -> None:
        for task in list(self._callback_tasks):
            task.cancel()
        for pool in self._callback_pools.values():
            await pool.close()
        self._callback_pools.clear()
        if self._server is not None:
            await self._server.close()
            self._server = None

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers and pending callbacks
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # configuration

    def add_account(
        self,
        sid: str | None = None,
        auth_token: str | None = None,
        *,
        friendly_name: str = "Fake Twilio account",
        status: str = "active",
        numbers: Iterable[str | FakeNumber] = (),
        services: Mapping[str, Iterable[str]] | None = None,
    ) -> FakeAccount:
        """Register an account (random AC sid and token unless given) with its numbers and
        Messaging Services ({MG sid: pool numbers}; pool numbers are added to the account)."""
        account = FakeAccount(
            sid=sid or new_sid("AC"),
            auth_token=auth_token or secrets.token_hex(16),
            friendly_name=friendly_name,
            status=status,
        )
        with self._lock:
            self.accounts[account.sid] = account
        for number in numbers:
            self.add_number(account.sid, number)
        for mg, pool in (services or {}).items():
            self.add_messaging_service(account.sid, pool, sid=mg)
        return account

    def add_number(self, account_sid: str, number: str | FakeNumber, **fields: Any) -> FakeNumber:
        """Add an incoming number (E.164 or a FakeNumber; fields: sid, sms, mms, voice, friendly_name)."""
        record = number if isinstance(number, FakeNumber) else FakeNumber(phone_number=number, **fields)
        with self._lock:
            account = self.accounts[account_sid]
            if account.number(record.phone_number) is None:
                account.numbers[record.sid] = record
            return account.number(record.phone_number)  # type: ignore[return-value]

    def add_messaging_service(
        self, account_sid: str, numbers: Iterable[str], *, sid: str | None = None
    ) -> str:
        mg = sid or new_sid("MG")
        pool = list(numbers)
        for number in pool:
            self.add_number(account_sid, number)
        with self._lock:
            self.accounts[account_sid].services[mg] = pool
        return mg

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next `n` requests (of any kind) with this error instead of serving them."""
        failure = _Failure(
            status,
            code if code is not None else (20429 if status == 429 else 20000 + status),
            message or ("Too Many Requests" if status == 429 else "Service Unavailable"),
            retry_after,
        )
        with self._lock:
            self._failures.extend([failure] * n)

    def set_rate_limit(self, sender: str, per_second: float | None, *, burst: float | None = None) -> None:
        """Allow `per_second` messages from one From number (None: no limit); beyond it, 429 20429."""
        with self._lock:
            self._buckets.pop(sender, None)
            if per_second is None:
                self._rate_limits.pop(sender, None)
            else:
                self._rate_limits[sender] = (per_second, burst or max(1.0, per_second))

    def reject_recipient(self, to: str, code: int, message: str = "", status: int = 400) -> None:
        """Refuse sends to `to` with this Twilio error (e.g. 21610 unsubscribed, 21614 not mobile)."""
        with self._lock:
            self._recipient_errors[to] = (status, code, message or f"Error {code} for {to}")

    def set_delivery_outcome(self, to: str, status: str, error_code: str | int | None = None) -> None:
        """The final status callback for messages to `to` (delivered, undelivered, failed)."""
        with self._lock:
            self._outcomes[to] = (status, str(error_code) if error_code is not None else None)

    def set_message_status(self, sid: str, status: str, error_code: str | int | None = None) -> None:
        """What fetching or listing message `sid` answers from now on (queued, sent, delivered, …)."""
        with self._lock:
            self._statuses[sid] = (status, str(error_code) if error_code is not None else None)

    def add_message(
        self,
        account_sid: str,
        *,
        to: str,
        from_number: str,
        body: str,
        status_callback: str = "",
        at: float | None = None,
    ) -> SentMessage:
        """Record a message as if the API had accepted it (no callbacks): what a send whose answer
        never reached the client leaves at the carrier."""
        now = time.time() if at is None else at
        message = SentMessage(
            sid=new_sid("SM"),
            account_sid=account_sid,
            to=to,
            from_number=from_number,
            messaging_service_sid="",
            body=body,
            media_urls=(),
            status_callback=status_callback,
            received_monotonic=time.monotonic(),
            received_at=now,
        )
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
        return message

    def reset(self) -> None:
        """Forget recorded traffic and faults (accounts stay)."""
        with self._lock:
            self._statuses.clear()
            self._messages.clear()
            self._callbacks.clear()
            self._requests.clear()
            self._failures.clear()
            self._buckets.clear()
            self.sends_by_sender.clear()
            self.rate_limited.clear()
            self.down = self.slow = False

    # what happened

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def callbacks_sent(self) -> list[CallbackRecord]:
        with self._lock:
            return list(self._callbacks)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def duplicate_sends(self) -> dict[tuple[str, str, str], int]:
        """(From, To, Body) accepted more than once: a platform that sends each message once has none."""
        counts = Counter((m.from_number, m.to, m.body) for m in self.messages)
        return {key: n for key, n in counts.items() if n > 1}

    def wait_for_messages(self, count: int = 1, timeout: float = 5.0) -> list[SentMessage]:
        return self._wait(
            lambda: len(self._messages) >= count, timeout, f"{count} messages", lambda: self.messages
        )

    def wait_for_callbacks(self, count: int = 1, timeout: float = 5.0) -> list[CallbackRecord]:
        return self._wait(
            lambda: len(self._callbacks) >= count, timeout, f"{count} callbacks", lambda: self.callbacks_sent
        )

    def wait_for_callbacks_posted(self, timeout: float = 10.0) -> None:
        """Until every status callback scheduled so far has been posted and answered (or failed)."""
        self._wait(lambda: not self._callback_tasks, timeout, "its callbacks posted", lambda: None)

    def _callback_done(self, task: asyncio.Task) -> None:
        with self._changed:
            self._callback_tasks.discard(task)
            self._changed.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str, result: Callable[[], Any]) -> Any:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"fake Twilio did not see {what} within {timeout}s")
        return result()

    # playing the carrier towards the platform

    def post_inbound(
        self,
        url: str,
        *,
        account_sid: str,
        from_number: str,
        to_number: str,
        body: str = "",
        media_urls: Iterable[str] = (),
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST a signed inbound-message webhook to `url`, as Twilio does for a text to `to_number`."""
        account = self.accounts[account_sid]
        params = inbound_params(
            from_number=from_number,
            to_number=to_number,
            body=body,
            media_urls=media_urls,
            account_sid=account.sid,
            messaging_service_sid=account.service_of(to_number),
        )
        return signed_post(url, params, account.auth_token, timeout=timeout)

    # request handling

    def _connection_opened(self) -> None:
        with self._lock:
            self.connections_opened += 1

    def _handle(
        self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> Answer | Awaitable[Answer]:
        """Answered at once, unless an added latency or a slow carrier makes it wait."""
        if self.latency or self.slow:
            return self._handle_later(method, path, query_string, headers, body)
        return self._answer(method, path, query_string, headers, body)

    async def _handle_later(
        self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.slow:
            await self._sleep_unless_stopping(self.slow_seconds)
        return self._answer(method, path, query_string, headers, body)

    def _answer(
        self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        form = parse_qs(body.decode(), keep_blank_values=True) if body else {}
        query = parse_qs(query_string, keep_blank_values=True)
        extra: dict[str, str] = {}
        try:
            status, payload = self._serve(headers, method, unquote(path), form, query)
        except _ApiError as exc:
            status, extra = exc.status, exc.headers
            payload = {
                "code": exc.code,
                "message": exc.message,
                "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
                "status": exc.status,
            }
        except Exception as exc:  # a bug in the fake, or input it does not understand
            status, payload = (
                500,
                {
                    "code": 20500,
                    "message": f"Internal Server Error ({type(exc).__name__})",
                    "more_info": "https://www.twilio.com/docs/errors/20500",
                    "status": 500,
                },
            )
        with self._changed:
            self._requests.append(RequestRecord(method, path, status, time.time()))
            self._changed.notify_all()
        return (
            status,
            {
                "Content-Type": "application/json; charset=utf-8",
                "Twilio-Request-Id": new_sid("RQ"),
                "Server": "FakeTwilio/2.0",
                **extra,
            },
            json.dumps(payload).encode(),
        )

    async def _sleep_unless_stopping(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the fake is stopping."""
        end = time.monotonic() + seconds
        while not self._stopping.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.05, end - time.monotonic()))
        return self._stopping.is_set()

    def _serve(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        form: dict[str, list[str]],
        query: dict[str, list[str]],
    ) -> tuple[int, Any]:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if self.down:
            raise _ApiError(503, 20503, "Service Unavailable")
        if failure is not None:
            extra = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            raise _ApiError(failure.status, failure.code or failure.status, failure.message, extra)
        match = _ACCOUNT_PATH.match(path)
        if not match:
            raise _ApiError(404, 20404, f"The requested resource {path} was not found")
        account = self._authenticate(headers, match["ac"])
        rest = match["rest"] or ""
        if rest == "" and method == "GET":
            return 200, account_json(account)
        if rest == "/Messages" and method == "POST":
            return 201, self._create_message(account, form)
        if rest == "/Messages" and method == "GET":
            return 200, self._messages_page(account, query)
        message_match = _MESSAGE_PATH.match(rest)
        if message_match and method == "GET":
            with self._lock:
                found = next(
                    (
                        m
                        for m in self._messages
                        if m.sid == message_match["sid"] and m.account_sid == account.sid
                    ),
                    None,
                )
            if found is None:
                raise _ApiError(404, 20404, f"The requested resource {path} was not found")
            return 200, self._message_json(account, found)
        if rest == "/IncomingPhoneNumbers" and method == "GET":
            return 200, self._numbers_page(account, query)
        number_match = _NUMBER_PATH.match(rest)
        if number_match:
            number = account.numbers.get(number_match["pn"])
            if number is None:
                raise _ApiError(404, 20404, f"The requested resource {path} was not found")
            if method == "POST":
                self._update_number(number, form)
            if method in ("GET", "POST"):
                return 200, number_json(account, number)
        raise _ApiError(
            404 if method == "GET" else 405,
            20404 if method == "GET" else 20004,
            f"The requested resource {path} was not found",
        )

    def _authenticate(self, headers: Mapping[str, str], account_sid: str) -> FakeAccount:
        header = headers.get("authorization") or ""
        username = password = ""
        if header.startswith("Basic "):
            with contextlib.suppress(ValueError):
                username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        account = self.accounts.get(username)
        if (
            account is None
            or username != account_sid
            or not secrets.compare_digest(password.encode(), account.auth_token.encode())
        ):
            raise _ApiError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        return account

    def _create_message(self, account: FakeAccount, form: dict[str, list[str]]) -> dict[str, Any]:
        def first(name: str) -> str:
            return (form.get(name) or [""])[0]

        to, from_number, service = first("To"), first("From"), first("MessagingServiceSid")
        body, media, callback = first("Body"), form.get("MediaUrl", []), first("StatusCallback")
        if not to:
            raise _ApiError(400, 21604, "A 'To' phone number is required.")
        if not _possible_e164(to):
            raise _ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not body and not media:
            raise _ApiError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise _ApiError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if from_number:
            number = account.number(from_number)
            if number is None or not number.sms:
                raise _ApiError(
                    400,
                    21606,
                    f"The From phone number {from_number} is not a valid, "
                    "SMS-capable inbound phone number or short code for your account.",
                )
            sender = from_number
        elif service:
            pool = account.services.get(service)
            if pool is None:
                raise _ApiError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
            if not pool:
                raise _ApiError(400, 21704, "The Messaging Service contains no phone numbers.")
            sender = pool[next(self._pool_cursor) % len(pool)]
        else:
            raise _ApiError(400, 21603, "A 'From' phone number is required.")
        with self._lock:
            rejection = self._recipient_errors.get(to)
            if rejection is not None:
                raise _ApiError(rejection[0], rejection[1], rejection[2])
            if from_number:
                self._check_rate(from_number)
            now = time.time()
            message = SentMessage(
                sid=new_sid("MM" if media else "SM"),
                account_sid=account.sid,
                to=to,
                from_number=sender,
                messaging_service_sid=service,
                body=body,
                media_urls=tuple(media),
                status_callback=callback,
                received_monotonic=time.monotonic(),
                received_at=now,
            )
            self._messages.append(message)
            self.sends_by_sender[sender] += 1
            self._changed.notify_all()
        if self.callbacks and callback:
            task = asyncio.get_running_loop().create_task(self._post_callbacks(account, message))
            with self._lock:
                self._callback_tasks.add(task)
            task.add_done_callback(self._callback_done)
        return self._message_json(account, message, created_from=from_number or None)

    def _carrier_status(self, message: SentMessage) -> tuple[str, str | None]:
        with self._lock:
            return self._statuses.get(message.sid) or self._outcomes.get(message.to, ("delivered", None))

    def _message_json(
        self, account: FakeAccount, message: SentMessage, *, created_from: str | None | bool = False
    ) -> dict[str, Any]:
        """A Message resource as Twilio answers it: right after create (`created_from`: the From
        given; queued, or accepted for a Messaging Service), or later (its delivery outcome)."""
        if created_from is not False:
            status = "queued" if created_from else "accepted"
            return message_json(
                account,
                message,
                created=True,
                status=status,
                error_code=None,
                shown_from=created_from or None,
            )
        status, error_code = self._carrier_status(message)
        return message_json(
            account,
            message,
            created=False,
            status=status,
            error_code=error_code,
            shown_from=message.from_number,
        )

    def _messages_page(self, account: FakeAccount, query: dict[str, list[str]]) -> dict[str, Any]:
        """Messages list, newest first, filtered by To, From and DateSent / DateSent> / DateSent<
        (Twilio compares the date part: DateSent>=YYYY-MM-DD)."""

        def first(name: str, default: str = "") -> str:
            return (query.get(name) or [default])[0]

        page_size = max(1, min(self.max_page_size, int(first("PageSize", "50") or 50)))
        page = max(0, int(first("Page", "0") or 0))
        to, sender = first("To"), first("From")
        on, after, before = (first("DateSent")[:10], first("DateSent>")[:10], first("DateSent<")[:10])
        with self._lock:
            found = sorted(
                (m for m in self._messages if m.account_sid == account.sid),
                key=lambda m: m.received_at,
                reverse=True,
            )
        found = [
            m
            for m in found
            if (not to or m.to == to)
            and (not sender or m.from_number == sender)
            and (not on or _day(m.received_at) == on)
            and (not after or _day(m.received_at) >= after)
            and (not before or _day(m.received_at) <= before)
        ]
        start = page * page_size
        chunk = found[start : start + page_size]
        filters = {
            k: v
            for k, v in (
                ("To", to),
                ("From", sender),
                ("DateSent", on),
                ("DateSent>", after),
                ("DateSent<", before),
            )
            if v
        }
        base = f"/{API_VERSION}/Accounts/{account.sid}/Messages.json"
        return _page(
            base,
            filters,
            "messages",
            [self._message_json(account, m) for m in chunk],
            page=page,
            page_size=page_size,
            start=start,
            total=len(found),
        )

    def _check_rate(self, sender: str) -> None:
        limit = self._rate_limits.get(sender)
        if limit is None and self.default_rate_limit:
            limit = (self.default_rate_limit, max(1.0, self.default_rate_limit))
        if limit is None:
            return
        bucket = self._buckets.get(sender)
        if bucket is None or (bucket.rate, bucket.burst) != limit:
            bucket = self._buckets[sender] = _Bucket(*limit)
        wait = bucket.take()
        if wait:
            self.rate_limited[sender] += 1
            raise _ApiError(429, 20429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})

    async def _post_callbacks(self, account: FakeAccount, message: SentMessage) -> None:
        with self._lock:
            final, code = self._outcomes.get(message.to, ("delivered", None))
        steps = [(final, code)] if final == "failed" else [("sent", None), (final, code)]
        assert self._callback_slots is not None
        for status, error_code in steps:
            if self.callback_delay and await self._sleep_unless_stopping(self.callback_delay):
                return
            if self._stopping.is_set():
                return
            params = status_params(
                message_sid=message.sid,
                status=status,
                from_number=message.from_number,
                to_number=message.to,
                error_code=error_code,
                account_sid=account.sid,
                messaging_service_sid=message.messaging_service_sid or None,
            )
            headers = {
                **signature_headers(message.status_callback, params, account.auth_token),
                "User-Agent": "TwilioProxy/1.1",
            }
            async with self._callback_slots:  # at most callback_workers callbacks in flight
                try:
                    code = await self._post_form(message.status_callback, params, headers)
                    record = CallbackRecord(message.status_callback, params, code, "", time.time())
                except (HttpConnectionError, TimeoutError, ValueError) as exc:
                    record = CallbackRecord(
                        message.status_callback, params, None, type(exc).__name__, time.time()
                    )
            with self._changed:
                self._callbacks.append(record)
                self._changed.notify_all()

    async def _post_form(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> int:
        """POST a form to `url` on a keep-alive pool per origin; answers the status code."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._callback_pools.get(origin)
        if pool is None or pool.closed:
            pool = self._callback_pools[origin] = KeepAlivePool(
                origin, limit=max(1, self.callback_workers), connect_timeout=10.0
            )
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        response = await pool.request(
            "POST",
            target,
            body=urlencode(params).encode(),
            timeout=10.0,
            extra_headers=extra.encode("latin-1"),
        )
        return response.status

    def _numbers_page(self, account: FakeAccount, query: dict[str, list[str]]) -> dict[str, Any]:
        def first(name: str, default: str = "") -> str:
            return (query.get(name) or [default])[0]

        page_size = max(1, min(self.max_page_size, int(first("PageSize", "50") or 50)))
        page = max(0, int(first("Page", "0") or 0))
        with self._lock:
            numbers = list(account.numbers.values())
        wanted = first("PhoneNumber")
        if wanted:
            numbers = [n for n in numbers if n.phone_number == wanted]
        start = page * page_size
        chunk = numbers[start : start + page_size]
        base = f"/{API_VERSION}/Accounts/{account.sid}/IncomingPhoneNumbers.json"
        return _page(
            base,
            {"PhoneNumber": wanted} if wanted else {},
            "incoming_phone_numbers",
            [number_json(account, n) for n in chunk],
            page=page,
            page_size=page_size,
            start=start,
            total=len(numbers),
        )

    def _update_number(self, number: FakeNumber, form: dict[str, list[str]]) -> None:
        fields = {
            "SmsUrl": "sms_url",
            "SmsMethod": "sms_method",
            "StatusCallback": "status_callback",
            "FriendlyName": "friendly_name",
        }
        with self._lock:
            for param, attr in fields.items():
                if param in form:
                    setattr(number, attr, form[param][0])
