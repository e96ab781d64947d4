"""The carrier adapter interface. One module per carrier implements it; nothing else in the
platform knows which carrier it talks to.

Errors say whether they are permanent (do not retry: invalid number, unverified sender, bad
credentials) or transient (retry later: timeouts, 5xx, 429).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ProviderError(Exception):
    """A carrier refused or failed a request. `code` is the carrier's own error code, if any."""

    permanent: bool = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    permanent = True


class TransientProviderError(ProviderError):
    permanent = False


class ProviderAuthError(PermanentProviderError):
    """The account's credentials were refused."""


@dataclass(frozen=True)
class SendResult:
    provider_sid: str  # the carrier's id for the message (SM… on Twilio)
    status: str  # the carrier's status word right after accepting (queued, accepted, sent, …)


@dataclass(frozen=True)
class InboundMessage:
    provider_sid: str
    from_number: str
    to_number: str
    body: str
    media_urls: list[str] = field(default_factory=list)
    messaging_service_sid: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    provider_sid: str
    status: str  # one of the platform's statuses: queued, sending, sent, delivered, failed, undelivered
    error_code: str | None = None
    error_message: str | None = None
    to_number: str = ""
    from_number: str = ""


@dataclass(frozen=True)
class CarrierMessage:
    """An outbound message as the carrier's own records show it (for reconciliation)."""

    provider_sid: str
    status: str  # a platform status, or "" for a carrier status the platform does not know
    to_number: str = ""
    from_number: str = ""
    body: str = ""
    created_at: datetime | None = None  # when the carrier accepted it
    messaging_service_sid: str = ""
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class NumberInfo:
    phone_number: str  # E.164
    provider_sid: str
    friendly_name: str = ""
    sms: bool = True
    mms: bool = False
    voice: bool = False
    number_type: str = "long_code"  # long_code | toll_free | short_code


@dataclass(frozen=True)
class AccountInfo:
    account_sid: str
    friendly_name: str
    status: str  # active, suspended, closed


class Provider(Protocol):
    """What every carrier adapter offers. Built with `numbers.providers.get_provider(account)`."""

    name: str

    def send(self, *, to: str, from_number: str | None, body: str, media_urls: list[str],
             status_callback: str | None, messaging_service_sid: str | None = None) -> SendResult:
        """Hand one message to the carrier. Raises PermanentProviderError / TransientProviderError."""
        ...

    # Optional, for adapters that talk to the carrier over the network: the same send as a
    # coroutine, run by the delivery engine many at a time on one event loop (keep-alive
    # connections per account). Without it the engine calls `send` in its own thread, one at a
    # time, which suits carriers that do no I/O (the simulator). See `async_sender`.
    #
    # async def send_async(self, *, to, from_number, body, media_urls, status_callback,
    #                      messaging_service_sid=None) -> SendResult

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        """The carrier's current record of one message we sent. Raises ProviderError (a
        PermanentProviderError if the carrier does not know the sid)."""
        ...

    def find_sent(self, *, to: str, from_number: str | None, sent_since: datetime,
                  limit: int) -> list[CarrierMessage]:
        """Messages of the account to `to` (from `from_number`, if given) that the carrier took on
        or after the day of `sent_since`, newest first, at most `limit`; [] when the carrier keeps
        no such list."""
        ...

    def validate_webhook(self, *, url: str, params: dict[str, str], signature: str) -> bool:
        """Whether a webhook request really comes from the carrier (url: the public URL it called)."""
        ...

    def parse_inbound(self, params: dict[str, str]) -> InboundMessage:
        """Read an inbound-message webhook. Raises ValueError when required fields are missing."""
        ...

    def parse_status(self, params: dict[str, str]) -> StatusUpdate:
        """Read a status-callback webhook. Raises ValueError when required fields are missing."""
        ...

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        """Point a number's inbound-message and status webhooks at this platform."""
        ...

    def list_numbers(self) -> list[NumberInfo]:
        """Every number on the carrier account, with its capabilities."""
        ...

    def check_credentials(self) -> AccountInfo:
        """Fetch the account with the stored credentials. Raises ProviderAuthError if refused."""
        ...



def async_sender(provider: Provider):
    """The adapter's `send_async` coroutine function, or None when it only sends synchronously."""
    return getattr(provider, "send_async", None)
