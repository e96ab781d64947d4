"""The simulator carrier: no account, no network. It accepts sends and reports their statuses (and
simulated replies) through `numbers.signals.carrier_event`, with the same Twilio-shaped parameters a
real carrier's webhooks carry, so the rest of the platform handles them exactly like webhooks.

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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections, transaction

from numbers.signals import carrier_event

from .base import (
    AccountInfo,
    CarrierMessage,
    InboundMessage,
    NumberInfo,
    PermanentProviderError,
    SendResult,
    StatusUpdate,
    TransientProviderError,
)
from .twilio import parse_inbound_params, parse_status_params

if TYPE_CHECKING:
    from numbers.models import ProviderAccount

INVALID_NUMBER = "+15005550001"
UNDELIVERED_NUMBER = "+15005550002"
FAILED_NUMBER = "+15005550003"
UNAVAILABLE_NUMBER = "+15005550004"
REPLY_NUMBER = "+15005550005"
REPLY_BODY = "Thanks! This is a simulated reply."
SIMULATOR_ACCOUNT_SID = "AC" + "0" * 32
ERROR_MESSAGES = {"30003": "Unreachable destination handset", "30008": "Unknown error"}

# Real area codes, so that the numbers are valid for `phonenumbers`; 555-0100…0199 is the range
# reserved for fiction, so no real subscriber is ever texted by mistake.
_AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225,
    228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281,
    301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320,
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
            sender="simulator", workspace_id=workspace_id, kind=event["kind"],
            params=dict(event["params"]), url=event.get("url"),
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

    def __init__(self, account: ProviderAccount | None = None):
        self.workspace_id = str(getattr(account, "workspace_id", None) or "")

    def __repr__(self) -> str:
        return f"<SimulatorProvider {self.workspace_id}>"

    def send(self, *, to: str, from_number: str | None, body: str, media_urls: list[str],
             status_callback: str | None, messaging_service_sid: str | None = None) -> SendResult:
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
        events: list[dict[str, Any]] = [
            {"kind": "status", "url": status_callback,
             "params": _status_params(sid, status, sender, to, code, messaging_service_sid)}
            for status, code in plan
        ]
        if to == REPLY_NUMBER:
            events.append(self._inbound_event(to, sender, REPLY_BODY, ()))
        schedule_events(self.workspace_id, events)
        return SendResult(provider_sid=sid, status="queued")

    def simulate_inbound(self, from_number: str, to_number: str, body: str,
                         media_urls: Iterable[str] = ()) -> str:
        """Emit an incoming message (after commit, without delay); returns its MessageSid."""
        event = self._inbound_event(from_number, to_number, body, media_urls)
        schedule_events(self.workspace_id, [event], delay=0)
        return event["params"]["MessageSid"]

    def _inbound_event(self, from_number: str, to_number: str, body: str,
                       media_urls: Iterable[str]) -> dict[str, Any]:
        sid = new_message_sid()
        media = list(media_urls)
        params = {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": SIMULATOR_ACCOUNT_SID,
            "From": from_number, "To": to_number, "Body": body, "NumMedia": str(len(media)),
            "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        }
        params.update({f"MediaUrl{i}": url for i, url in enumerate(media)})
        return {"kind": "inbound", "url": None, "params": params}

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        """The final status the send planned (read from the sid: the simulator stores nothing)."""
        by_digit = {digit: status for status, digit in OUTCOME_DIGITS.items()}
        outcome = by_digit.get(provider_sid[-1:], "delivered")
        code = {"undelivered": "30003", "failed": "30008"}.get(outcome)
        return CarrierMessage(provider_sid=provider_sid, status=outcome, error_code=code,
                              error_message=ERROR_MESSAGES.get(code or ""))

    def find_sent(self, *, to: str, from_number: str | None, sent_since: datetime,
                  limit: int) -> list[CarrierMessage]:
        return []  # it keeps no list; and a send here never dies between accepting and answering

    def validate_webhook(self, *, url: str, params: Mapping[str, str], signature: str) -> bool:
        return False  # the simulator never calls over HTTP, so no webhook can be from it

    def parse_inbound(self, params: Mapping[str, str]) -> InboundMessage:
        return parse_inbound_params(params)

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        return parse_status_params(params)

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        return None  # events do not travel over HTTP, so there is nothing to point anywhere

    def list_numbers(self) -> list[NumberInfo]:
        return [
            NumberInfo(phone_number=number,
                       provider_sid="PN" + hashlib.sha256(number.encode()).hexdigest()[:32],
                       friendly_name=f"Simulator ({number[2:5]}) {number[5:8]}-{number[8:]}",
                       sms=True, mms=True, voice=False, number_type="long_code")
            for number in simulator_numbers(self.workspace_id)
        ]

    def check_credentials(self) -> AccountInfo:
        return AccountInfo(account_sid="simulator", friendly_name="Simulator", status="active")


def _status_params(sid: str, status: str, from_number: str, to: str, error_code: str | None,
                   messaging_service_sid: str | None) -> dict[str, str]:
    params = {
        "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
        "AccountSid": SIMULATOR_ACCOUNT_SID, "From": from_number, "To": to, "ApiVersion": "2010-04-01",
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code:
        params["ErrorCode"] = error_code
        params["ErrorMessage"] = ERROR_MESSAGES.get(error_code, "")
    return params
