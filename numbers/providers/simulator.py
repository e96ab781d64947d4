"""The simulator carrier: no account, no network. It accepts sends and reports their statuses (and
simulated replies) through `numbers.signals.carrier_event` as neutral events (the fields of
InboundMessage and StatusUpdate), which the platform stores and applies exactly like webhooks.

Test numbers (documented in docs/carriers.md):
    +15005550001  refused at send: PermanentProviderError 21211 "Invalid 'To' Phone Number"
    +15005550002  accepted, sent, then undelivered with 30003
    +15005550003  accepted, then failed with 30008
    +15005550004  TransientProviderError (carrier unavailable) on every send
    +15005550005  sent, delivered, then a simulated reply from that number
    anything else sent, then delivered
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import connections, transaction

from numbers.signals import carrier_event

from .base import (
    AccountInfo,
    Capability,
    CarrierMessage,
    EventKind,
    InboundMessage,
    NumberInfo,
    PermanentProviderError,
    ReceivedEvent,
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

INVALID_NUMBER = "+15005550001"
UNDELIVERED_NUMBER = "+15005550002"
FAILED_NUMBER = "+15005550003"
UNAVAILABLE_NUMBER = "+15005550004"
REPLY_NUMBER = "+15005550005"
REPLY_BODY = "Thanks! This is a simulated reply."
ERROR_MESSAGES = {"30003": "Unreachable destination handset", "30008": "Unknown error"}
ERROR_CODES = {
    "20503": (
        "The simulated carrier was unavailable.",
        "Nothing to do: sends are retried automatically; retry by hand if it finally failed.",
    ),
    "21211": ("The 'To' number is not a valid phone number.", "Nothing: +15005550001 is always refused."),
    "30003": ("The simulated handset could not be reached.", "Nothing: +15005550002 always ends so."),
    "30008": ("The simulated carrier reported an unknown error.", "Nothing: +15005550003 always ends so."),
}

# Real area codes, so that the numbers are valid for `phonenumbers`; 555-0100…0199 is the range
# reserved for fiction, so no real subscriber is ever texted by mistake.
_AREA_CODES = (
    201,
    202,
    203,
    205,
    206,
    207,
    208,
    209,
    210,
    212,
    213,
    214,
    215,
    216,
    217,
    218,
    219,
    224,
    225,
    228,
    229,
    231,
    234,
    239,
    240,
    248,
    251,
    252,
    253,
    254,
    256,
    260,
    262,
    267,
    269,
    270,
    276,
    281,
    301,
    302,
    303,
    304,
    305,
    307,
    308,
    309,
    310,
    312,
    313,
    314,
    315,
    316,
    317,
    318,
    319,
    320,
)


def new_message_sid(outcome: str = "") -> str:
    """A fresh sid; for a send, its last hex digit records the final status (see OUTCOME_DIGITS), so
    that fetching the message later needs no stored state."""
    sid = "SM" + uuid.uuid4().hex
    return sid[:-1] + OUTCOME_DIGITS[outcome] if outcome else sid


# The last digit of a sent message's sid: what the simulated carrier finally made of it.
OUTCOME_DIGITS = {"delivered": "0", "undelivered": "1", "failed": "2"}


def simulator_numbers(workspace_id: str) -> list[str]:
    """The two numbers of a workspace's simulator account: deterministic, rarely shared."""
    digest = hashlib.sha256(workspace_id.encode()).digest()
    first = (_AREA_CODES[int.from_bytes(digest[0:2]) % len(_AREA_CODES)], digest[2] % 100)
    second = (_AREA_CODES[int.from_bytes(digest[3:5]) % len(_AREA_CODES)], digest[5] % 100)
    if second == first:
        second = (first[0], (first[1] + 1) % 100)
    return [f"+1{area}55501{line:02d}" for area, line in (first, second)]


def emit_events(workspace_id: str, events: Iterable[Mapping[str, Any]]) -> None:
    """Send each event through carrier_event. send_robust: a receiver's failure is logged (by
    django.dispatch), never raised, since to the carrier our processing errors are invisible."""
    for event in events:
        carrier_event.send_robust(
            sender="simulator",
            workspace_id=workspace_id,
            kind=event["kind"],
            payload=dict(event["payload"]),
        )


def _emit_after_delays(workspace_id: str, events: list[dict[str, Any]], delay: float) -> None:
    """Timer thread body: the first event is due now, each next one a delay later."""
    stop = threading.Event()
    try:
        for index, event in enumerate(events):
            if index:
                stop.wait(delay)
            emit_events(workspace_id, [event])
    finally:
        connections.close_all()  # this thread's connections would otherwise stay open


def schedule_events(workspace_id: str, events: list[dict[str, Any]], *, delay: float | None = None) -> None:
    """Emit events after the current transaction commits, one SIMULATOR_DELAY_SECONDS apart:
    at once (delay 0), from a daemon timer thread (Celery eager: no worker to wait for), or from
    a Celery task with a countdown."""
    delay = float(settings.SIMULATOR_DELAY_SECONDS if delay is None else delay)

    def start() -> None:
        if delay <= 0:
            emit_events(workspace_id, events)
        elif settings.CELERY_TASK_ALWAYS_EAGER:
            timer = threading.Timer(delay, _emit_after_delays, args=(workspace_id, events, delay))
            timer.daemon = True
            timer.start()
        else:
            from numbers.tasks import simulator_emit_events  # tasks import this module

            simulator_emit_events.apply_async((workspace_id, events, delay), countdown=delay)

    transaction.on_commit(start)


class SimulatorProvider:
    """A carrier that needs no account: sends always reach `sent` then `delivered`, except for the
    test numbers above; events arrive through numbers.signals.carrier_event."""

    name = "simulator"
    capabilities = frozenset({Capability.SIMULATE_INBOUND, Capability.LIST_NUMBERS, Capability.FETCH_MESSAGE})
    webhook_routes: Mapping[str, EventKind | None] = {}  # its events never travel over HTTP
    inbound_route, status_route = "inbound", "status"
    error_codes = ERROR_CODES

    def __init__(self, account: ProviderAccount | None = None):
        self.workspace_id = str(getattr(account, "workspace_id", None) or "")

    def __repr__(self) -> str:
        return f"<SimulatorProvider {self.workspace_id}>"

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
        if to == INVALID_NUMBER:
            raise PermanentProviderError("Invalid 'To' Phone Number", code="21211", status=400)
        if to == UNAVAILABLE_NUMBER:
            raise TransientProviderError("The simulated carrier is unavailable.", code="20503", status=503)
        sender = from_number or self.list_numbers()[0].phone_number
        plan: list[tuple[str, str | None]] = [("sent", None), ("delivered", None)]
        if to == UNDELIVERED_NUMBER:
            plan = [("sent", None), ("undelivered", "30003")]
        elif to == FAILED_NUMBER:
            plan = [("failed", "30008")]
        sid = new_message_sid(plan[-1][0])
        message_id = _message_id(status_callback)
        events: list[dict[str, Any]] = [
            {
                "kind": EventKind.STATUS.value,
                "payload": asdict(
                    StatusUpdate(
                        provider_sid=sid,
                        status=status,
                        error_code=code,
                        error_message=ERROR_MESSAGES.get(code or ""),
                        to_number=to,
                        from_number=sender,
                        message_id=message_id,
                    )
                ),
            }
            for status, code in plan
        ]
        if to == REPLY_NUMBER:
            events.append(self._inbound_event(to, sender, REPLY_BODY, ()))
        schedule_events(self.workspace_id, events)
        return SendResult(provider_sid=sid, status="queued")

    def simulate_inbound(
        self, from_number: str, to_number: str, body: str, media_urls: Iterable[str] = ()
    ) -> str:
        """Emit an incoming message (after commit, without delay); returns its MessageSid."""
        event = self._inbound_event(from_number, to_number, body, media_urls)
        schedule_events(self.workspace_id, [event], delay=0)
        return event["payload"]["provider_sid"]

    def _inbound_event(
        self, from_number: str, to_number: str, body: str, media_urls: Iterable[str]
    ) -> dict[str, Any]:
        inbound = InboundMessage(
            provider_sid=new_message_sid(),
            from_number=from_number,
            to_number=to_number,
            body=body,
            media_urls=list(media_urls),
        )
        return {"kind": EventKind.INBOUND.value, "payload": asdict(inbound)}

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        """The final status the send planned (read from the sid: the simulator stores nothing)."""
        by_digit = {digit: status for status, digit in OUTCOME_DIGITS.items()}
        outcome = by_digit.get(provider_sid[-1:], "delivered")
        code = {"undelivered": "30003", "failed": "30008"}.get(outcome)
        return CarrierMessage(
            provider_sid=provider_sid,
            status=outcome,
            error_code=code,
            error_message=ERROR_MESSAGES.get(code or ""),
        )

    def find_sent(
        self, *, to: str, from_number: str | None, sent_since: datetime, limit: int
    ) -> list[CarrierMessage]:
        return []  # it keeps no list; and a send here never dies between accepting and answering

    def validate_webhook(self, *, url: str, params: Mapping[str, str], signature: str) -> bool:
        return False  # the simulator never calls over HTTP, so no webhook can be from it

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return False

    def read_webhook(self, route: str, request: WebhookRequest) -> list[ReceivedEvent]:
        raise ValueError("The simulator has no webhooks.")

    def webhook_answer(self, route: str) -> WebhookAnswer:
        return WebhookAnswer(204)

    @classmethod
    def webhook_urls(cls, base_url: str, workspace_id: str) -> tuple[str, str]:
        return (
            webhook_url(base_url, cls.name, workspace_id, cls.inbound_route),
            webhook_url(base_url, cls.name, workspace_id, cls.status_route),
        )

    @staticmethod
    def dedupe_key(kind: str, payload: Mapping[str, Any]) -> str:
        sid = str(payload.get("provider_sid") or "")
        if kind == EventKind.INBOUND:
            return sid
        return f"{sid}:{payload.get('status') or ''}:{payload.get('error_code') or ''}"

    @staticmethod
    def parse_inbound(payload: Mapping[str, Any]) -> InboundMessage:
        return InboundMessage(
            provider_sid=_text(payload, "provider_sid", required=True),
            from_number=_text(payload, "from_number", required=True),
            to_number=_text(payload, "to_number", required=True),
            body=_text(payload, "body"),
            media_urls=http_media_urls(payload.get("media_urls") or []),
            messaging_service_sid=_text(payload, "messaging_service_sid"),
        )

    @staticmethod
    def parse_status(payload: Mapping[str, Any]) -> StatusUpdate:
        status = _text(payload, "status", required=True)
        if status not in SIMULATED_STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        return StatusUpdate(
            provider_sid=_text(payload, "provider_sid", required=True),
            status=status,
            error_code=_text(payload, "error_code") or None,
            error_message=_text(payload, "error_message") or None,
            to_number=_text(payload, "to_number"),
            from_number=_text(payload, "from_number"),
            message_id=_text(payload, "message_id"),
        )

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        return None  # events do not travel over HTTP, so there is nothing to point anywhere

    def list_numbers(self) -> list[NumberInfo]:
        return [
            NumberInfo(
                phone_number=number,
                provider_sid="PN" + hashlib.sha256(number.encode()).hexdigest()[:32],
                friendly_name=f"Simulator ({number[2:5]}) {number[5:8]}-{number[8:]}",
                sms=True,
                mms=True,
                voice=False,
                number_type="long_code",
            )
            for number in simulator_numbers(self.workspace_id)
        ]

    def check_credentials(self) -> AccountInfo:
        return AccountInfo(account_sid="simulator", friendly_name="Simulator", status="active")


SIMULATED_STATUSES = {"queued", "sending", "sent", "delivered", "undelivered", "failed"}


def _text(payload: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise ValueError(f"missing field {name}")
        return ""
    return str(value)


def _message_id(status_callback: str | None) -> str:
    """Our message id, from the status-callback URL the platform gave the send (?message_id=)."""
    if not status_callback:
        return ""
    return (parse_qs(urlsplit(status_callback).query).get("message_id") or [""])[0]
