"""The Telnyx adapter, over the Messages API v2 (JSON over HTTPS, Bearer API key), with a thin
client on `requests`: the official SDK pulls in a generated client of every Telnyx product and
PyNaCl for what `cryptography` already does here. Webhooks are signed with Ed25519 over
"<telnyx-timestamp>|<raw body>" and checked against the account's public key.

The account's fields: `auth_token` holds the API key (encrypted at rest), `settings` the public
key (`public_key`, base64) and the messaging profile (`messaging_profile_id`, optional).
settings.TELNYX_API_BASE_URL points it at another base URL (the fake Telnyx of the test suite).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import requests
import urllib3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

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

# Telnyx's per-recipient message statuses, as the platform names them. delivery_unconfirmed: the
# carrier sent no receipt; the message stays `sent`.
STATUS_MAP = {
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "delivery_unconfirmed": "sent",
    "delivery_failed": "undelivered",
    "sending_failed": "failed",
    "expired": "failed",
}
STATUS_EVENTS = {"message.sent", "message.finalized"}
INBOUND_EVENTS = {"message.received"}
# Telnyx signs with a timestamp; older signatures are replays (its SDKs allow 5 minutes).
SIGNATURE_TOLERANCE_SECONDS = 300
AUTH_ERROR_CODES = {"10009", "10010"}

# Telnyx's error codes that messages end with most often: what each means, and what to do.
ERROR_CODES = {
    "10004": (
        "Neither a sender number nor a messaging profile was given.",
        "Give a 'from' number, or set the account's messaging profile.",
    ),
    "10009": ("Telnyx refused the API key.", "Check the API key of the carrier account."),
    "10010": ("Telnyx refused the API key.", "Check the API key of the carrier account."),
    "40001": (
        "The destination cannot be reached through Telnyx (often a landline).",
        "Check the number is a mobile number.",
    ),
    "40002": (
        "The carrier blocked the message as spam, for now.",
        "Send more slowly, review the content, and try again later.",
    ),
    "40003": (
        "The carrier blocked the message as spam.",
        "Register the sender (10DLC or toll-free verification) and review the content.",
    ),
    "40004": ("The recipient's carrier rejected the message.", "Check the number; do not retry as is."),
    "40005": ("The message expired on its way to the handset.", "Try again; the handset may have been off."),
    "40006": ("The recipient's carrier was unavailable.", "Try again later."),
    "40008": ("The message could not be delivered.", "Check the number is in service."),
    "40300": (
        "The recipient replied STOP to this sender.",
        "Do not send to them again unless they opt back in.",
    ),
    "40310": ("The 'to' number is not valid.", "Check the number is complete, with its country code."),
}
RATE_LIMIT_CODES = {"10011", "40011"}
TRANSIENT_CODES = {"10007", "10008", "40006"}  # unexpected error, timeout, recipient unavailable

_local = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def classify_error(
    status: int, code: str | None, message: str, retry_after: float | None = None
) -> ProviderError:
    """Turn a Telnyx error answer into the platform's permanent / transient errors."""
    if status == 401 or code in AUTH_ERROR_CODES:
        return ProviderAuthError(
            f"Telnyx refused the API key: {message}", code=code, status=status, not_taken=True
        )
    if status == 429 or code in RATE_LIMIT_CODES:
        return TransientProviderError(
            f"Telnyx rate limit: {message}", code=code, status=status, retry_after=retry_after
        )
    if status >= 500 or status == 408 or code in TRANSIENT_CODES:
        return TransientProviderError(
            f"Telnyx is unavailable (HTTP {status}): {message}",
            code=code,
            status=status,
            retry_after=retry_after,
            not_taken=status >= 500,
        )
    return PermanentProviderError(message, code=code, status=status)


def _never_connected(exc: requests.RequestException) -> bool:
    """Whether the connection was refused or never made (so no request was written)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError
    )


def _first_error(body: Any) -> tuple[str | None, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        error = errors[0]
        code = str(error["code"]) if error.get("code") is not None else None
        return code, str(error.get("detail") or error.get("title") or "")
    return None, ""


class TelnyxProvider:
    """Telnyx Messaging, with the workspace's API key, public key and messaging profile."""

    name = "telnyx"
    capabilities = frozenset(
        {Capability.LIST_NUMBERS, Capability.CONFIGURE_NUMBERS, Capability.FETCH_MESSAGE}
    )
    # Both carry either kind: the event's type says which (the profile's webhook gets both).
    webhook_routes: Mapping[str, EventKind | None] = {"inbound": None, "status": None}
    inbound_route, status_route = "inbound", "status"
    error_codes = ERROR_CODES
    page_size = 250  # numbers per page when listing (Telnyx allows up to 250)

    def __init__(self, account: ProviderAccount):
        self._api_key = account.auth_token or ""  # never put in a message or log line
        values = account.settings or {}
        self.public_key = str(values.get("public_key") or "")
        self.messaging_profile_id = str(values.get("messaging_profile_id") or "")

    def __repr__(self) -> str:
        return f"<TelnyxProvider {self.messaging_profile_id or '-'}>"

    # HTTP ---------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not self._api_key:
            raise ProviderAuthError("The Telnyx API key is required.")
        url = settings.TELNYX_API_BASE_URL + path
        timeout = float(settings.TELNYX_HTTP_TIMEOUT)
        try:
            response = _session().request(
                method,
                url,
                json=body,
                params=params,
                timeout=timeout,
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
            )
        except requests.ConnectTimeout:  # no connection was made: nothing was written
            raise TransientProviderError(
                f"Could not reach Telnyx within {timeout:g} seconds.", not_taken=True
            ) from None
        except requests.Timeout:
            # Once a send was written, Telnyx may have taken it: sending again could send it
            # twice, so the sweep looks it up (find_sent) after the lease instead.
            error = SendInDoubt if method == "POST" else TransientProviderError
            raise error(f"Telnyx did not answer within {timeout:g} seconds.") from None
        except requests.RequestException as exc:  # from None: the request holds the key
            raise TransientProviderError(
                f"Could not reach Telnyx: {type(exc).__name__}", not_taken=_never_connected(exc)
            ) from None
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {}
        if response.status_code >= 400:
            code, detail = _first_error(payload)
            raise classify_error(
                response.status_code, code, detail or f"HTTP {response.status_code}", _retry_after(response)
            )
        if not isinstance(payload, dict):
            raise TransientProviderError("Unexpected answer from Telnyx.")
        return payload

    # Sending and looking up ---------------------------------------------------------------

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
        request: dict[str, Any] = {"to": to}
        if from_number:
            request["from"] = from_number
        else:
            profile = messaging_service_sid or self.messaging_profile_id
            if not profile:
                raise PermanentProviderError(
                    "A 'from' number or a messaging profile is required.", code="10004"
                )
            request["messaging_profile_id"] = profile
        if body:
            request["text"] = body
        if media_urls:
            request["media_urls"] = list(media_urls)
        if status_callback:
            request["webhook_url"] = status_callback
        data = self._call("POST", "/v2/messages", body=request).get("data") or {}
        recipients = data.get("to") or [{}]
        return SendResult(
            provider_sid=str(data.get("id") or ""), status=str(recipients[0].get("status") or "queued")
        )

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        data = self._call("GET", f"/v2/messages/{provider_sid}").get("data") or {}
        recipient = (data.get("to") or [{}])[0]
        errors = data.get("errors") or []
        error = errors[0] if errors and isinstance(errors[0], dict) else {}
        return CarrierMessage(
            provider_sid=str(data.get("id") or provider_sid),
            status=STATUS_MAP.get(str(recipient.get("status") or ""), ""),
            to_number=str(recipient.get("phone_number") or ""),
            from_number=str((data.get("from") or {}).get("phone_number") or ""),
            body=str(data.get("text") or ""),
            created_at=_datetime(data.get("received_at")),
            messaging_service_sid=str(data.get("messaging_profile_id") or ""),
            error_code=str(error["code"]) if error.get("code") is not None else None,
            error_message=error.get("detail") or error.get("title") or None,
        )

    def find_sent(
        self, *, to: str, from_number: str | None, sent_since: datetime, limit: int
    ) -> list[CarrierMessage]:
        return []  # the Messages API has no list of sent messages (detail records are a report)

    # The account and its numbers ----------------------------------------------------------

    def check_credentials(self) -> AccountInfo:
        data = self._call("GET", "/v2/balance").get("data") or {}
        return AccountInfo(
            account_sid="telnyx",
            friendly_name=f"Telnyx ({data.get('currency') or 'balance'} {data.get('balance') or '0'})",
            status="active",
        )

    def list_numbers(self) -> list[NumberInfo]:
        numbers: list[NumberInfo] = []
        page = 1
        while True:
            answer = self._call(
                "GET", "/v2/phone_numbers", params={"page[number]": page, "page[size]": self.page_size}
            )
            for record in answer.get("data") or []:
                numbers.append(
                    NumberInfo(
                        phone_number=str(record.get("phone_number") or ""),
                        provider_sid=str(record.get("id") or ""),
                        friendly_name=str(record.get("connection_name") or ""),
                        sms=True,
                        mms=True,
                        voice=bool(record.get("connection_id")),
                        number_type="toll_free"
                        if record.get("phone_number_type") == "toll_free"
                        else "long_code",
                    )
                )
            total_pages = int((answer.get("meta") or {}).get("total_pages") or 1)
            if page >= total_pages or page >= 1000:
                return numbers
            page += 1

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        """Put the number on the account's messaging profile and point the profile's webhook at
        us (inbound messages; status webhooks go to the URL given with each send)."""
        if not self.messaging_profile_id:
            raise PermanentProviderError(
                "A messaging profile is required to receive messages on a Telnyx number.", code="10004"
            )
        self._call(
            "PATCH",
            f"/v2/messaging_profiles/{self.messaging_profile_id}",
            body={"webhook_url": inbound_url, "webhook_api_version": "2"},
        )
        number_id = number.provider_sid or number.phone_number
        self._call(
            "PATCH",
            f"/v2/phone_numbers/{number_id}/messaging",
            body={"messaging_profile_id": self.messaging_profile_id},
        )

    # Webhooks -----------------------------------------------------------------------------

    @classmethod
    def webhook_urls(cls, base_url: str, workspace_id: str) -> tuple[str, str]:
        return (
            webhook_url(base_url, cls.name, workspace_id, cls.inbound_route),
            webhook_url(base_url, cls.name, workspace_id, cls.status_route),
        )

    def verify_webhook(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("telnyx-signature-ed25519", "")
        timestamp = request.headers.get("telnyx-timestamp", "")
        if not (signature and timestamp and self.public_key):
            return False
        try:
            if abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
                return False
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
            key.verify(base64.b64decode(signature), timestamp.encode() + b"|" + request.body)
        except (ValueError, binascii.Error, InvalidSignature):
            return False
        return True

    def read_webhook(self, route: str, request: WebhookRequest) -> list[ReceivedEvent]:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("The body is not JSON.") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
            raise ValueError("missing field data.payload")
        event_type = data.get("event_type")
        if event_type in INBOUND_EVENTS:
            kind = EventKind.INBOUND
        elif event_type in STATUS_EVENTS:
            kind = EventKind.STATUS
        else:
            return []  # another product's event: acknowledged, nothing to store
        return [ReceivedEvent(kind=kind, payload=data, message_id=str(request.query.get("message_id") or ""))]

    def webhook_answer(self, route: str) -> WebhookAnswer:
        return WebhookAnswer(200, "application/json", "{}")

    @staticmethod
    def dedupe_key(kind: str, payload: Mapping[str, Any]) -> str:
        message = payload.get("payload") or {}
        if kind == EventKind.INBOUND:
            return str(message.get("id") or "")
        status = _recipient(message).get("status") or ""
        code = _error(message).get("code") or ""
        return f"{message.get('id') or ''}:{status}:{code}"

    @staticmethod
    def parse_inbound(payload: Mapping[str, Any]) -> InboundMessage:
        message = _message(payload)
        # The isinstance check of a second get() does not narrow the first.
        sender = (
            cast("Mapping[str, Any]", message.get("from")) if isinstance(message.get("from"), dict) else {}
        )
        media = [item.get("url") for item in message.get("media") or [] if isinstance(item, dict)]
        return InboundMessage(
            provider_sid=_required(message.get("id"), "payload.id"),
            from_number=_required(sender.get("phone_number"), "payload.from.phone_number"),
            to_number=_required(_recipient(message).get("phone_number"), "payload.to.phone_number"),
            body=str(message.get("text") or ""),
            media_urls=http_media_urls(media[:10]),
            messaging_service_sid=str(message.get("messaging_profile_id") or ""),
        )

    @staticmethod
    def parse_status(payload: Mapping[str, Any]) -> StatusUpdate:
        message = _message(payload)
        recipient = _recipient(message)
        raw = _required(recipient.get("status"), "payload.to.status")
        if raw not in STATUS_MAP:
            raise ValueError(f"unknown message status {raw!r}")
        error = _error(message)
        # The isinstance check of a second get() does not narrow the first.
        sender = (
            cast("Mapping[str, Any]", message.get("from")) if isinstance(message.get("from"), dict) else {}
        )
        return StatusUpdate(
            provider_sid=_required(message.get("id"), "payload.id"),
            status=STATUS_MAP[raw],
            error_code=str(error["code"]) if error.get("code") is not None else None,
            error_message=str(error.get("detail") or error.get("title") or "") or None,
            to_number=str(recipient.get("phone_number") or ""),
            from_number=str(sender.get("phone_number") or ""),
        )


def _message(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    message = payload.get("payload")
    if not isinstance(message, dict):
        raise ValueError("missing field payload")
    return message


def _recipient(message: Mapping[str, Any]) -> Mapping[str, Any]:
    recipients = message.get("to")
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        return recipients[0]
    return {}


def _error(message: Mapping[str, Any]) -> Mapping[str, Any]:
    errors = message.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return {}


def _required(value: Any, name: str) -> str:
    if value is None or value == "" or isinstance(value, dict | list):
        raise ValueError(f"missing field {name}")
    return str(value)


def _datetime(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
