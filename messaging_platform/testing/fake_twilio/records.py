"""The fake Twilio's records and the shapes of its answers (no server here)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ..twilio_params import API_VERSION, new_sid

# --- state ------------------------------------------------------------------------------------


@dataclass
class FakeNumber:
    phone_number: str
    sid: str = field(default_factory=lambda: new_sid("PN"))
    sms: bool = True
    mms: bool = True
    voice: bool = True
    friendly_name: str = ""
    sms_url: str = ""
    sms_method: str = "POST"
    status_callback: str = ""
    created: float = field(default_factory=time.time)


@dataclass
class FakeAccount:
    sid: str
    auth_token: str
    friendly_name: str = "Fake Twilio account"
    status: str = "active"
    numbers: dict[str, FakeNumber] = field(default_factory=dict)  # by PN sid
    services: dict[str, list[str]] = field(default_factory=dict)  # MG sid -> pool of E.164 numbers

    def number(self, phone_number: str) -> FakeNumber | None:
        return next((n for n in self.numbers.values() if n.phone_number == phone_number), None)

    @property
    def phone_numbers(self) -> list[str]:
        return [n.phone_number for n in self.numbers.values()]

    def service_of(self, phone_number: str) -> str | None:
        return next((mg for mg, pool in self.services.items() if phone_number in pool), None)


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted, with when it arrived (monotonic for intervals, wall clock
    to compare with other processes)."""

    sid: str
    account_sid: str
    to: str
    from_number: str  # the sender used: From, or the pool number picked for a Messaging Service
    messaging_service_sid: str
    body: str
    media_urls: tuple[str, ...]
    status_callback: str
    received_monotonic: float
    received_at: float


@dataclass(frozen=True)
class CallbackRecord:
    url: str
    params: dict[str, str]
    status_code: int | None  # None when the POST failed
    error: str = ""
    sent_at: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    at: float


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int | None
    message: str
    retry_after: float | None


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Bucket:
    """A token bucket: `rate` messages per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, time.monotonic()

    def take(self) -> float:
        """0 when a message may go now, else the seconds until it may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


# --- the server -------------------------------------------------------------------------------


def _page(
    base: str, filters: dict, key: str, items: list, *, page: int, page_size: int, start: int, total: int
) -> dict:
    """One page of a Twilio list resource, with the paging fields the twilio library follows."""

    def uri(p: int) -> str:
        params = {**filters, "PageSize": page_size, "Page": p}
        if p:
            params["PageToken"] = f"PA{p}"
        return f"{base}?{urlencode(params)}"

    return {
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": uri(0),
        key: items,
        "next_page_uri": uri(page + 1) if start + page_size < total else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1) if page else None,
        "start": start,
        "uri": uri(page),
    }


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


_ACCOUNT_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC[0-9a-zA-Z]+)(?P<rest>/[^?]*)?\.json$")
_NUMBER_PATH = re.compile(r"^/IncomingPhoneNumbers/(?P<pn>PN[0-9a-zA-Z]+)$")
_MESSAGE_PATH = re.compile(r"^/Messages/(?P<sid>(?:SM|MM)[0-9a-zA-Z]+)$")
