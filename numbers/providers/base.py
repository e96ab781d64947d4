"""The carrier adapter interface. One module per carrier implements it; nothing else in the
platform knows which carrier it talks to.

Errors say whether they are permanent (do not retry: invalid number, unverified sender, bad
credentials) or transient (retry later: timeouts, 5xx, 429).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol


class ProviderError(Exception):
    """A carrier refused or failed a request. `code` is the carrier's own error code, if any.

    `not_taken`: the carrier definitely did not take the message (it could not be reached, the
    connection was refused, or it answered that it failed before accepting it), so another
    carrier account may send it with no risk of a duplicate: a route's fallback account takes it
    (messaging.dispatch). False whenever the request may have reached the carrier (a timeout
    after the request was written, a connection dropped mid-answer)."""

    permanent: bool = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        not_taken: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.not_taken = not_taken


class PermanentProviderError(ProviderError):
    permanent = True


class TransientProviderError(ProviderError):
    permanent = False


class SendInDoubt(TransientProviderError):
    """A send whose answer never came (a timeout once the request may have been written): the
    carrier may have taken the message, so sending it again could send it twice. The delivery
    engine leaves it `sending`; after the lease the sweep looks it up at the carrier first."""


class NotSent(TransientProviderError):
    """The request never left us (an SMPP bind that is down at the moment): the message goes back
    to `queued` as if it had not been claimed, due again after `retry_after` seconds, with no
    attempt counted."""


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
    provider_sid: str  # the carrier's id of the message; "" when the carrier names ours only
    status: str  # one of the platform's statuses: queued, sending, sent, delivered, failed, undelivered
    error_code: str | None = None
    error_message: str | None = None
    to_number: str = ""
    from_number: str = ""
    message_id: str = ""  # our message id (msg_…), when the carrier's event carries it


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


# Carrier webhooks (intake) -----------------------------------------------------------------------
#
# A webhook request reaches /webhooks/<provider>/<workspace_id>/<route>, one of the adapter's
# `webhook_routes`. The record side (messaging/carrier_intake.py) then:
#   1. builds a WebhookRequest and asks `verify_webhook` (403 when False);
#   2. asks `read_webhook(route, request)` for the raw events it carries (ValueError: 400);
#   3. strips NUL characters from each payload (PostgreSQL cannot store them), checks that
#      `parse_inbound` / `parse_status` accept it (ValueError: 400) and stores it with
#      `dedupe_key(kind, payload)` as one CarrierEvent row (`params` is the payload);
#   4. answers with `webhook_answer(route)`.
# The apply side later calls `parse_inbound(payload)` / `parse_status(payload)` again on the stored
# payload (`CarrierEvent.params`), through `numbers.providers.adapter_class(event.provider)`: these
# two are static, pure (no credentials, no database, no network), deterministic, and raise only
# ValueError for a payload they cannot read. A payload stored once stays readable by later
# versions of its adapter.


class EventKind(StrEnum):
    INBOUND = "inbound"  # a message from a handset to one of our numbers
    STATUS = "status"  # a status of a message we sent


@dataclass(frozen=True)
class WebhookRequest:
    """A carrier's HTTP request, as the adapter needs it to verify and read it."""

    url: str  # the public URL the carrier called (PUBLIC_BASE_URL + path + query)
    headers: Mapping[str, str]  # case-insensitive (Django's request.headers)
    body: bytes  # the raw body (some carriers sign it byte for byte)
    form: Mapping[str, str]  # the form fields of a form-encoded body, else empty
    query: Mapping[str, str]  # the query string's parameters


@dataclass(frozen=True)
class ReceivedEvent:
    """One raw event read from a webhook: what is stored and parsed again later."""

    kind: EventKind
    payload: dict[str, Any]  # JSON-serialisable; stored as CarrierEvent.params
    message_id: str = ""  # our message id when the request names it (a status-callback URL)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    content_type: str = ""
    body: str = ""


def webhook_url(base_url: str, provider: str, workspace_id: str, route: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{provider}/{workspace_id}/{route}"


class Capability(StrEnum):
    """What an adapter can do beyond sending. Declared by each adapter in `capabilities`."""

    SIMULATE_INBOUND = "simulate_inbound"  # simulate_inbound(from_number, to_number, body, media_urls)
    LIST_NUMBERS = "list_numbers"  # list_numbers() lists the account's numbers
    CONFIGURE_NUMBERS = "configure_numbers"  # configure_number() points a number at us
    FETCH_MESSAGE = "fetch_message"  # fetch_message() looks one message up at the carrier
    FIND_SENT = "find_sent"  # find_sent() lists the account's recent messages to a number
    ALPHANUMERIC_SENDER = "alphanumeric_sender"  # sends from an alphanumeric sender id ("ACME")
    # prepare_sends(messages) before a delivery round's sends (in a transaction of its own) and
    # record_sends(sent, unsent_ids) inside the round's write-back; send_async gets `message_id`
    # too (messaging.dispatch)
    ROUND_HOOKS = "round_hooks"


def http_media_urls(urls: Iterable[Any]) -> list[str]:
    """The http(s) URLs among an inbound message's media: anything else (javascript:, data:, file:)
    is dropped, so it can never be rendered as a link."""
    kept = []
    for url in urls:
        text = str(url or "").strip()
        if text.lower().startswith(("https://", "http://")) and len(text) <= 2000:
            kept.append(text)
    return kept


class Provider(Protocol):
    """What every carrier adapter offers. Built with `numbers.providers.get_provider(account)`."""

    name: str
    capabilities: ClassVar[frozenset[Capability]]
    # The routes of /webhooks/<name>/<workspace_id>/<route> this carrier calls, each with the kind
    # of event it carries (None: the payload says which). Which route a number's inbound messages
    # and our status callbacks go to:
    webhook_routes: ClassVar[Mapping[str, EventKind | None]]
    inbound_route: ClassVar[str]
    status_route: ClassVar[str]
    # The carrier's error codes that messages end with most often: code → (what it means, what
    # to do), for people (numbers.providers.explain_error).
    error_codes: ClassVar[Mapping[str, tuple[str, str]]]

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

    def find_sent(
        self, *, to: str, from_number: str | None, sent_since: datetime, limit: int
    ) -> list[CarrierMessage]:
        """Messages of the account to `to` (from `from_number`, if given) that the carrier took on
        or after the day of `sent_since`, newest first, at most `limit`; [] when the carrier keeps
        no such list."""
        ...

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """Whether a webhook request really comes from the carrier (its signature is good)."""
        ...

    def read_webhook(self, route: str, request: WebhookRequest) -> list[ReceivedEvent]:
        """The raw events a verified request carries (usually one). ValueError when unreadable."""
        ...

    def webhook_answer(self, route: str) -> WebhookAnswer:
        """What the carrier expects back once its events are stored."""
        ...

    @staticmethod
    def dedupe_key(kind: str, payload: Mapping[str, Any]) -> str:
        """Equal for a carrier's retries of one event, different for different events."""
        ...

    @staticmethod
    def parse_inbound(payload: Mapping[str, Any]) -> InboundMessage:
        """Read a stored inbound-message payload. Raises ValueError when required fields are missing."""
        ...

    @staticmethod
    def parse_status(payload: Mapping[str, Any]) -> StatusUpdate:
        """Read a stored status payload. Raises ValueError when required fields are missing."""
        ...

    @classmethod
    def webhook_urls(cls, base_url: str, workspace_id: str) -> tuple[str, str]:
        """The (inbound, status) URLs to hand the carrier; base_url is PUBLIC_BASE_URL."""
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


def async_sender(provider: Provider) -> Callable[..., Any] | None:
    """The adapter's `send_async` coroutine function, or None when it only sends synchronously."""
    return getattr(provider, "send_async", None)
