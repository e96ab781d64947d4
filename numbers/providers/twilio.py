"""The Twilio adapter. Calls go through the official `twilio` library, pointed at
settings.TWILIO_API_BASE_URL, so a Twilio-compatible API or the fake carrier of the test suite can
stand in for api.twilio.com. The one exception is the delivery engine's send (`send_async`): a
single form POST on a keep-alive connection pool per account (messaging_platform.keepalive_http),
since the library's per-call cost (building its resource objects, requests' machinery), and then
aiohttp's, was most of a send's CPU.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlparse, urlsplit

import phonenumbers
import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import add_port, remove_port
from twilio.rest import Client

from messaging_platform.keepalive_http import HttpConnectFailed, HttpConnectionError, KeepAlivePool

from .base import (
    AccountInfo,
    Capability,
    CarrierMessage,
    EventKind,
    InboundMessage,
    NumberInfo,
    PermanentProviderError,
    ProviderAuthError,
    ProviderError,
    ReceivedEvent,
    SendInDoubt,
    SendResult,
    StatusUpdate,
    TransientProviderError,
    WebhookAnswer,
    WebhookRequest,
    http_media_urls,
    webhook_url,
)

if TYPE_CHECKING:
    from numbers.models import ProviderAccount

TWILIO_ORIGIN = "https://api.twilio.com"

# Twilio's message statuses, as the platform names them.
STATUS_MAP = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
}

# Twilio retries a webhook only when its URL asks to (a connection override in the fragment, which
# Twilio strips before calling and signing): up to 5 retries on connection and read timeouts and
# on a 5xx (our JSON 503 when PostgreSQL and Redis are both out of reach), within Twilio's limit
# of 15 s in all.
WEBHOOK_RETRY_FRAGMENT = "#rc=5&rp=ct,rt,5xx&tt=15000"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

AUTH_ERROR_CODES = {20003}

# Twilio's error codes that messages end with most often: what each means, and what to do.
ERROR_CODES = {
    "20003": (
        "Twilio refused the account's credentials.",
        "Check the Account SID and Auth Token of the carrier account.",
    ),
    "20429": (
        "Too many requests to Twilio at once.",
        "Nothing: the platform retries; send more slowly if it persists.",
    ),
    "21211": (
        "The 'To' number is not a valid phone number.",
        "Check the number is complete, with its country code (E.164).",
    ),
    "21408": (
        "The account may not send to this country.",
        "Enable the destination in Twilio's Messaging geographic permissions.",
    ),
    "21603": (
        "No sender number was given.",
        "Give a 'from' number, or set a default number for the workspace.",
    ),
    "21606": (
        "The sender number cannot send this message.",
        "Send from a number of the account that can send SMS to this destination.",
    ),
    "21610": (
        "The recipient replied STOP to this sender.",
        "Do not send to them again unless they reply START.",
    ),
    "21612": (
        "This sender cannot reach the recipient's number.",
        "Use a sender that supports this destination (a long code rather than a short code abroad).",
    ),
    "21614": (
        "The 'To' number is not a mobile number.",
        "Send to a mobile number: landlines cannot receive SMS.",
    ),
    "30001": (
        "Too many messages were queued at Twilio for this sender.",
        "Send more slowly: lower the number's send rate.",
    ),
    "30002": (
        "The Twilio account is suspended.",
        "Check the account's status and billing in Twilio's console.",
    ),
    "30003": (
        "The handset could not be reached (off, or out of coverage).",
        "Try again later; the number itself is fine.",
    ),
    "30004": (
        "The recipient or their carrier blocks messages from this sender.",
        "Do not retry; ask the recipient to unblock the sender.",
    ),
    "30005": ("The number does not exist or is no longer in service.", "Remove the number from your lists."),
    "30006": ("The number is a landline or its carrier cannot receive SMS.", "Send to a mobile number."),
    "30007": (
        "The carrier filtered the message as spam.",
        "Register the sender (A2P 10DLC or toll-free verification) and review the content.",
    ),
    "30008": (
        "The carrier reported an unknown error.",
        "Try again later; if it persists, ask Twilio's support with the message's sid.",
    ),
    "30032": (
        "The toll-free sender is not verified.",
        "Complete toll-free verification in Twilio's console.",
    ),
    "30034": (
        "The US sender number is not registered for A2P 10DLC.",
        "Register a brand and campaign for the number in Twilio's console.",
    ),
}
RATE_LIMIT_CODES = {20429, 14107}
_LIBRARY_PREFIX = re.compile(r"^Unable to [a-z]+ (?:record|page)s?:\s*", re.IGNORECASE)


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the twilio library has no type information
    """The library's HTTP client, sending api.twilio.com requests to another base URL, and keeping
    the last response so that errors can read its headers (Retry-After) and body."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.last_response: Response | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN) :]
        self.last_response = None
        self.last_response = super().request(method, url, *args, **kwargs)
        return self.last_response


# One HTTP client (one requests.Session, so pooled keep-alive connections) per thread: a Session
# is not documented as thread-safe, and sends may run concurrently in threads.
_local = threading.local()


def _http_client() -> BaseUrlHttpClient:
    base_url, timeout = settings.TWILIO_API_BASE_URL, float(settings.TWILIO_HTTP_TIMEOUT)
    client: BaseUrlHttpClient | None = getattr(_local, "client", None)
    if client is None or client.base_url != base_url.rstrip("/") or client.timeout != timeout:
        client = _local.client = BaseUrlHttpClient(base_url, timeout)
    return client


# Keep-alive pools for the async send: one per account per event loop (a pool belongs to the loop
# it was made on).
_Pools = dict[tuple[str, str], KeepAlivePool]
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pools] = weakref.WeakKeyDictionary()


def _async_pool(account_sid: str, auth_token: str) -> KeepAlivePool:
    """The account's pool of up to TWILIO_MAX_CONNECTIONS connections; a send waits for a free
    connection before its timeout starts, so that a send queued behind many others is never given
    up (and sent again) while the carrier may already have it."""
    loop = asyncio.get_running_loop()
    pools = _sessions.setdefault(loop, {})
    key = (settings.TWILIO_API_BASE_URL, account_sid)
    pool = pools.get(key)
    if pool is None or pool.closed:
        # A pool for another base URL (a changed setting, a test's fake carrier) is not used again.
        for other in [k for k in pools if k[0] != key[0]]:
            loop.create_task(pools.pop(other).close())
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        pool = pools[key] = KeepAlivePool(
            settings.TWILIO_API_BASE_URL,
            limit=settings.TWILIO_MAX_CONNECTIONS,
            connect_timeout=float(settings.TWILIO_HTTP_TIMEOUT),
            headers={
                "Authorization": f"Basic {basic}",
                "User-Agent": "messaging-platform",
                "Accept": "application/json",
            },
        )
    return pool


async def close_async_sessions() -> None:
    """Close this event loop's pools (tests, and a worker shutting down its loop)."""
    for pool in _sessions.pop(asyncio.get_running_loop(), {}).values():
        await pool.close()


def _json_object(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text or "{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _error_payload(response: Response | None) -> dict[str, Any]:
    return _json_object(response.text) if response is not None else {}


def _retry_after(response: Any) -> float | None:
    headers = (response.headers if response is not None else None) or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare, and the caller's own backoff copes


def classify_error(status: int, code: int | None, message: str, response: Any = None) -> ProviderError:
    """Turn a Twilio error answer into the platform's permanent / transient errors."""
    code_text = str(code) if code is not None else None
    if status == 401 or (code in AUTH_ERROR_CODES):
        return ProviderAuthError(
            f"Twilio refused the account credentials: {message}",
            code=code_text,
            status=status,
            not_taken=True,
        )
    if status == 429 or (code in RATE_LIMIT_CODES):
        return TransientProviderError(
            f"Twilio rate limit: {message}", code=code_text, status=status, retry_after=_retry_after(response)
        )
    if status >= 500 or status == 408:
        return TransientProviderError(
            f"Twilio is unavailable (HTTP {status}): {message}",
            code=code_text,
            status=status,
            retry_after=_retry_after(response),
            not_taken=status >= 500,  # it answered, and with a failure: no message was created
        )
    return PermanentProviderError(message, code=code_text, status=status)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class TwilioProvider:
    """Twilio Programmable Messaging, with the workspace's Account SID and Auth Token."""

    name = "twilio"
    capabilities = frozenset(
        {
            Capability.LIST_NUMBERS,
            Capability.CONFIGURE_NUMBERS,
            Capability.FETCH_MESSAGE,
            Capability.FIND_SENT,
        }
    )
    # The URLs numbers already configured at Twilio point at: keep them.
    webhook_routes = {"inbound": EventKind.INBOUND, "status": EventKind.STATUS}
    inbound_route, status_route = "inbound", "status"
    error_codes = ERROR_CODES

    def __init__(self, account: ProviderAccount):
        self.account_sid = account.account_sid or ""
        self._auth_token = account.auth_token or ""  # never put in a message or log line
        self.messaging_service_sid = account.messaging_service_sid or ""

    def __repr__(self) -> str:
        return f"<TwilioProvider {self.account_sid}>"

    # Clients are cheap (the library builds its resources lazily); the HTTP session is shared.
    def _client(self) -> tuple[Client, BaseUrlHttpClient]:
        if not self.account_sid or not self._auth_token:
            raise ProviderAuthError("The Twilio Account SID and Auth Token are required.")
        http = _http_client()
        return Client(self.account_sid, self._auth_token, http_client=http), http

    @contextmanager
    def _calling(self, http: BaseUrlHttpClient) -> Iterator[None]:
        """Translate the library's and requests' exceptions. `from None`: a requests exception
        holds the prepared request, whose Authorization header carries the token."""
        try:
            yield
        except TwilioRestException as exc:
            message = _LIBRARY_PREFIX.sub("", str(exc.msg or "")) or f"HTTP {exc.status}"
            raise classify_error(
                int(exc.status), _int_or_none(exc.code), message, http.last_response
            ) from None
        except TwilioException as exc:
            # Page reads raise a bare TwilioException("Unable to fetch page", response).
            response = http.last_response
            if response is None or response.status_code < 400:
                raise TransientProviderError(f"Unexpected answer from Twilio: {exc.args[0]}") from None
            payload = _error_payload(response)
            message = str(payload.get("message") or f"HTTP {response.status_code}")
            raise classify_error(
                response.status_code, _int_or_none(payload.get("code")), message, response
            ) from None
        except requests.Timeout:
            raise TransientProviderError(f"Twilio did not answer within {http.timeout:g} seconds.") from None
        except requests.RequestException as exc:
            raise TransientProviderError(f"Could not reach Twilio: {type(exc).__name__}") from None

    def send(
        self,
        *,
        to: str,
        from_number: str | None,
        body: str,
        media_urls: list[str],
        status_callback: str | None,
        messaging_service_sid: str | None = None,
    ) -> SendResult:
        client, http = self._client()
        kwargs: dict[str, Any] = {"to": to}
        if from_number:
            kwargs["from_"] = from_number
        else:
            service = messaging_service_sid or self.messaging_service_sid
            if not service:
                # What Twilio would answer; no need to ask it.
                raise PermanentProviderError("A 'From' phone number is required.", code="21603")
            kwargs["messaging_service_sid"] = service
        if body:
            kwargs["body"] = body
        if media_urls:
            kwargs["media_url"] = list(media_urls)
        if status_callback:
            kwargs["status_callback"] = status_callback
        with self._calling(http):
            message = client.messages.create(**kwargs)
        return SendResult(provider_sid=message.sid, status=message.status or "queued")

    async def send_async(
        self,
        *,
        to: str,
        from_number: str | None,
        body: str,
        media_urls: list[str],
        status_callback: str | None,
        messaging_service_sid: str | None = None,
    ) -> SendResult:
        """`send` as one POST on the account's keep-alive pool (many in flight on one loop)."""
        if not self.account_sid or not self._auth_token:
            raise ProviderAuthError("The Twilio Account SID and Auth Token are required.")
        form: list[tuple[str, str]] = [("To", to)]
        if from_number:
            form.append(("From", from_number))
        else:
            service = messaging_service_sid or self.messaging_service_sid
            if not service:
                raise PermanentProviderError("A 'From' phone number is required.", code="21603")
            form.append(("MessagingServiceSid", service))
        if body:
            form.append(("Body", body))
        form += [("MediaUrl", url) for url in media_urls]
        if status_callback:
            form.append(("StatusCallback", status_callback))
        pool = _async_pool(self.account_sid, self._auth_token)
        base_path = urlsplit(settings.TWILIO_API_BASE_URL).path.rstrip("/")
        path = f"{base_path}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        timeout = float(settings.TWILIO_HTTP_TIMEOUT)
        try:
            response = await pool.request("POST", path, body=urlencode(form).encode(), timeout=timeout)
        except TimeoutError:
            raise SendInDoubt(f"Twilio did not answer within {timeout:g} seconds.") from None
        except HttpConnectFailed as exc:  # refused, unresolved: nothing was written
            raise TransientProviderError(f"Could not reach Twilio: {exc}", not_taken=True) from None
        except HttpConnectionError as exc:
            raise TransientProviderError(f"Could not reach Twilio: {exc}") from None
        text, status = response.text(), response.status
        if status >= 400:
            payload = _json_object(text)
            message = str(payload.get("message") or f"HTTP {status}")
            raise classify_error(status, _int_or_none(payload.get("code")), message, response)
        payload = _json_object(text)
        sid = payload.get("sid")
        if not sid:
            raise TransientProviderError(f"Unexpected answer from Twilio (HTTP {status}, no sid).")
        return SendResult(provider_sid=str(sid), status=str(payload.get("status") or "queued"))

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        client, http = self._client()
        with self._calling(http):
            record = client.messages(provider_sid).fetch()
        return _carrier_message(record)

    def find_sent(
        self, *, to: str, from_number: str | None, sent_since: datetime, limit: int
    ) -> list[CarrierMessage]:
        client, http = self._client()
        kwargs: dict[str, Any] = {"to": to, "limit": limit, "page_size": min(limit, 1000)}
        if from_number:
            kwargs["from_"] = from_number
        # Twilio compares DateSent by its day (DateSent>=YYYY-MM-DD), so start at the day's midnight.
        kwargs["date_sent_after"] = sent_since.replace(hour=0, minute=0, second=0, microsecond=0)
        with self._calling(http):
            records = client.messages.list(**kwargs)
        return [_carrier_message(record) for record in records]

    def check_credentials(self) -> AccountInfo:
        client, http = self._client()
        with self._calling(http):
            account = client.api.v2010.accounts(self.account_sid).fetch()
        return AccountInfo(
            account_sid=account.sid or self.account_sid,
            friendly_name=account.friendly_name or "",
            status=account.status or "",
        )

    def list_numbers(self) -> list[NumberInfo]:
        client, http = self._client()
        with self._calling(http):
            records = list(client.incoming_phone_numbers.stream(page_size=1000))
        return [_number_info(record) for record in records]

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        client, http = self._client()
        with self._calling(http):
            sid = number.provider_sid
            if not sid:
                found = client.incoming_phone_numbers.list(phone_number=number.phone_number, limit=1)
                if not found:
                    raise PermanentProviderError(
                        f"{number.phone_number} is not a number of this Twilio account.",
                        code="20404",
                        status=404,
                    )
                sid = found[0].sid
            client.incoming_phone_numbers(sid).update(
                sms_url=inbound_url + WEBHOOK_RETRY_FRAGMENT,
                sms_method="POST",
                status_callback=status_url + WEBHOOK_RETRY_FRAGMENT,
            )

    @classmethod
    def webhook_urls(cls, base_url: str, workspace_id: str) -> tuple[str, str]:
        return (
            webhook_url(base_url, cls.name, workspace_id, cls.inbound_route),
            webhook_url(base_url, cls.name, workspace_id, cls.status_route),
        )

    def verify_webhook(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        return self.validate_webhook(url=request.url, params=request.form, signature=signature)

    def validate_webhook(self, *, url: str, params: Mapping[str, str], signature: str) -> bool:
        """What the library's RequestValidator.validate answers (HMAC-SHA1 of the URL and the
        sorted parameters, the URL taken with and without its port, since Twilio may have signed
        either), with one HMAC for a genuine request instead of two: the form the URL was given
        in is tried first, the other only when that does not match."""
        if not signature or not self._auth_token:
            return False
        parsed = urlparse(url)
        signed = _signed_params(params).encode() if params else b""
        expected, key = signature.encode(), self._auth_token.encode()

        def signs(uri: str) -> bool:
            digest = hmac.new(key, uri.encode() + signed, hashlib.sha1).digest()
            return hmac.compare_digest(base64.b64encode(digest), expected)

        # The URL as given (with its port when it has one, without when not), then the other.
        return signs(parsed.geturl()) or signs(remove_port(parsed) if parsed.port else add_port(parsed))

    def read_webhook(self, route: str, request: WebhookRequest) -> list[ReceivedEvent]:
        kind = self.webhook_routes[route]
        # Our status-callback URLs carry our message id (messaging.dispatch adds ?message_id=).
        message_id = str(request.query.get("message_id") or "") if kind == EventKind.STATUS else ""
        return [ReceivedEvent(kind=kind, payload=dict(request.form), message_id=message_id)]

    def webhook_answer(self, route: str) -> WebhookAnswer:
        if self.webhook_routes[route] == EventKind.INBOUND:
            return WebhookAnswer(200, "text/xml", EMPTY_TWIML)  # no reply message
        return WebhookAnswer(204)

    @staticmethod
    def dedupe_key(kind: str, payload: Mapping[str, Any]) -> str:
        sid = payload.get("MessageSid") or payload.get("SmsMessageSid") or payload.get("SmsSid") or ""
        if kind == EventKind.INBOUND:
            return str(sid)
        status = payload.get("MessageStatus") or payload.get("SmsStatus") or ""
        return f"{sid}:{status}:{payload.get('ErrorCode', '')}"

    @staticmethod
    def parse_inbound(payload: Mapping[str, Any]) -> InboundMessage:
        return parse_inbound_params(payload)

    @staticmethod
    def parse_status(payload: Mapping[str, Any]) -> StatusUpdate:
        return parse_status_params(payload)


def _signed_params(params: Mapping[str, Any]) -> str:
    """The parameters as Twilio signs them: each name followed by its value, by name, and a
    repeated name's distinct values in order (RequestValidator.compute_signature)."""
    if type(params) is dict:  # one value a name: a webhook's form
        return "".join([name + params[name] for name in sorted(params)])
    getlist = getattr(params, "getall", None) or getattr(params, "getlist", None)
    parts = []
    for name in sorted(set(params)):
        values = getlist(name) if getlist is not None else [params[name]]
        parts += [name + value for value in sorted(set(values))]
    return "".join(parts)


def _carrier_message(record: Any) -> CarrierMessage:
    raw = str(record.status or "").lower()
    error_code = _int_or_none(record.error_code)
    return CarrierMessage(
        provider_sid=record.sid or "",
        status=STATUS_MAP.get(raw, ""),
        to_number=record.to or "",
        from_number=getattr(record, "from_", None) or "",
        body=record.body or "",
        created_at=record.date_created,
        messaging_service_sid=record.messaging_service_sid or "",
        error_code=str(error_code) if error_code is not None else None,
        error_message=record.error_message or None,
    )


def _number_info(record: Any) -> NumberInfo:
    caps = {str(k).lower(): bool(v) for k, v in (record.capabilities or {}).items()}
    return NumberInfo(
        phone_number=record.phone_number,
        provider_sid=record.sid or "",
        friendly_name=record.friendly_name or "",
        sms=caps.get("sms", False),
        mms=caps.get("mms", False),
        voice=caps.get("voice", False),
        number_type=number_type(record.phone_number),
    )


def number_type(phone_number: str) -> str:
    try:
        parsed = phonenumbers.parse(phone_number)
    except phonenumbers.NumberParseException:
        return "long_code"
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE:
        return "toll_free"
    return "long_code"


def _required(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = params.get(name)
        if value:
            return str(value)
    raise ValueError(f"missing field {names[0]}")


MAX_INBOUND_MEDIA = 10


def parse_inbound_params(params: Mapping[str, str]) -> InboundMessage:
    """Read Twilio's inbound-message webhook parameters (shared by every Twilio-shaped carrier)."""
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError:
        raise ValueError("NumMedia is not a number") from None
    # Twilio sends at most 10 media; a larger NumMedia would only make this loop run long.
    count = min(max(0, num_media), MAX_INBOUND_MEDIA)
    media = http_media_urls(params.get(f"MediaUrl{i}") for i in range(count))
    return InboundMessage(
        provider_sid=_required(params, "MessageSid", "SmsMessageSid", "SmsSid"),
        from_number=_required(params, "From"),
        to_number=_required(params, "To"),
        body=str(params.get("Body") or ""),
        media_urls=media,
        messaging_service_sid=str(params.get("MessagingServiceSid") or ""),
    )


def parse_status_params(params: Mapping[str, str]) -> StatusUpdate:
    """Read Twilio's message status-callback parameters."""
    raw = _required(params, "MessageStatus", "SmsStatus").lower()
    if raw not in STATUS_MAP:
        raise ValueError(f"unknown message status {raw!r}")
    return StatusUpdate(
        provider_sid=_required(params, "MessageSid", "SmsSid"),
        status=STATUS_MAP[raw],
        error_code=str(params.get("ErrorCode") or "") or None,
        error_message=str(params.get("ErrorMessage") or "") or None,
        to_number=str(params.get("To") or ""),
        from_number=str(params.get("From") or ""),
    )
