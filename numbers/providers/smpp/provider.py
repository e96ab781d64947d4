"""The SMPP carrier adapter: what the rest of the platform calls on an SMPP account.

Messages are sent only in the bind process (numbers.providers.smpp.binds), which holds the binds
and runs the delivery engine's rounds for its accounts: there `send_async` submits through the
account's bind, and the round hooks keep each message's parts (numbers.providers.smpp.store).
This adapter also checks a connection (bind, unbind), looks messages up with query_sm, and reads
the events the bind process stored.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..base import (
    AccountInfo,
    Capability,
    CarrierMessage,
    EventKind,
    InboundMessage,
    NotSent,
    NumberInfo,
    PermanentProviderError,
    ProviderAuthError,
    ReceivedEvent,
    SendResult,
    StatusUpdate,
    TransientProviderError,
    WebhookAnswer,
    WebhookRequest,
    webhook_url,
)
from . import codec
from .session import SessionClosed, SessionConfig, SmppError, SmppSession

if TYPE_CHECKING:
    import ssl

    from numbers.models import ProviderAccount

DEFAULT_PORT = 2775
AT_LEAST_ONCE = "resend"  # a submit_sm whose answer was lost is sent again (default)
AT_MOST_ONCE = "fail"  # … is never sent again: the message ends failed, outcome unknown
PLATFORM_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")


def session_config(account: ProviderAccount, **overrides: Any) -> SessionConfig:
    from django.conf import settings

    values = account.settings or {}
    config = SessionConfig(
        host=values.get("host", ""),
        port=int(values.get("port") or DEFAULT_PORT),
        system_id=values.get("system_id", ""),
        password=account.auth_token or "",
        system_type=values.get("system_type", ""),
        tls=bool(values.get("tls")),
        bind_type=values.get("bind_type", "transceiver"),
        window=int(values.get("window") or settings.SMPP_WINDOW),
        enquire_link_seconds=settings.SMPP_ENQUIRE_LINK_SECONDS,
        response_timeout=settings.SMPP_RESPONSE_TIMEOUT_SECONDS,
        connect_timeout=settings.SMPP_CONNECT_TIMEOUT_SECONDS,
        ssl_context=tls_context(),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def tls_context() -> ssl.SSLContext | None:
    """The TLS context of every bind: the system's trust store, or SMPP_TLS_CA_FILE."""
    import ssl

    from django.conf import settings

    if settings.SMPP_TLS_CA_FILE:
        return ssl.create_default_context(cafile=settings.SMPP_TLS_CA_FILE)
    return None


def bind_error(exc: BaseException, config: SessionConfig) -> Exception:
    """The adapter's error for a failed bind (never carrying the password)."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, SmppError) and exc.status is not None:
        name = codec.status_name(exc.status)
        if exc.status in codec.AUTH_STATUSES:
            return ProviderAuthError(
                f"The SMSC at {where} refused the bind: {name} ({codec.status_description(exc.status)}).",
                code=name,
            )
        return PermanentProviderError(f"The SMSC at {where} refused the bind: {name}.", code=name)
    if isinstance(exc, socket.gaierror):
        # A host name that does not resolve is a wrong address, not an SMSC that is down.
        return PermanentProviderError(
            f"The SMSC's host {config.host!r} does not resolve: {exc}.", code="host_not_found"
        )
    return TransientProviderError(
        f"Could not bind to the SMSC at {where}: {exc or type(exc).__name__}.", code="smpp_unreachable"
    )


# The SMSC's refusals (command_status names) and receipts' states that messages end with most
# often (a receipt's code is "<stat>:<err>"; its state says what it means): meaning, and what to do.
ERROR_CODES = {
    "smpp_error": (
        "The SMSC refused the message.",
        "Check the SMSC's error in the message's events; then retry or contact the SMSC.",
    ),
    "ESME_RINVDSTADR": (
        "The SMSC refused the destination address.",
        "Check the number, with its country code.",
    ),
    "ESME_RINVSRCADR": (
        "The SMSC refused the sender address.",
        "Send from a sender the SMSC account allows.",
    ),
    "ESME_RTHROTTLED": ("The SMSC throttled the bind.", "Lower the account's throughput setting."),
    "ESME_RMSGQFUL": ("The SMSC's queue for this destination is full.", "Try again later."),
    "ESME_RSUBMITFAIL": (
        "The SMSC could not accept the message.",
        "Try again; ask the SMSC's operator if it persists.",
    ),
    "ESME_RBINDFAIL": ("The SMSC refused the bind.", "Check the account's system_id and password."),
    "UNDELIV": ("The network could not deliver the message.", "Check the number is in service."),
    "EXPIRED": (
        "The message expired at the SMSC before delivery.",
        "The handset may be off; try again later.",
    ),
    "REJECTD": ("The SMSC or the network rejected the message.", "Check the number and the content."),
    "DELETED": ("The SMSC deleted the message.", "Ask the SMSC's operator why."),
    "UNKNOWN": ("The SMSC does not know the outcome.", "Nothing; it may still arrive."),
    "smpp_unreachable": (
        "The SMSC could not be reached.",
        "Check the account's host and port, and the network.",
    ),
    "smpp_bind_lost": (
        "The bind to the SMSC was lost while sending.",
        "Nothing: the platform checks and retries.",
    ),
}


class SmppProvider:
    name = "smpp"
    # A sender may be an alphanumeric sender id, sent as source_addr with TON 5 / NPI 0
    # (codec.sender_address), where the SMSC allows it.
    capabilities = frozenset(
        {
            Capability.LIST_NUMBERS,
            Capability.FETCH_MESSAGE,
            Capability.ALPHANUMERIC_SENDER,
            Capability.ROUND_HOOKS,
        }
    )
    webhook_routes: Mapping[str, EventKind | None] = {}  # its events come over the bind
    inbound_route, status_route = "inbound", "status"
    error_codes = ERROR_CODES

    def __init__(self, account: ProviderAccount):
        self.account = account

    def __repr__(self) -> str:
        return f"<SmppProvider {self.account.workspace_id}>"

    # Sending happens in the bind process ---------------------------------------------------

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
        raise TransientProviderError(
            "SMPP messages are sent by the bind process, not by workers.", code="smpp_bind_process"
        )

    async def send_async(
        self,
        *,
        to: str,
        from_number: str | None,
        body: str,
        media_urls: list[str],
        status_callback: str | None,
        messaging_service_sid: str | None = None,
        message_id: str = "",
    ) -> SendResult:
        """Through this process's bind of the account (the bind process's rounds); media cannot
        go over SMPP and the receipts come over the bind, not to a callback URL."""
        from .binds import live_bind

        bind = live_bind(self.account.pk)
        if bind is None:
            raise NotSent("This process holds no bind of the account.", code="smpp_unbound", retry_after=1.0)
        return await bind.submit(message_id=message_id, to=to, from_number=from_number, body=body)

    def prepare_sends(self, messages: list[Any]) -> dict[str, Exception | SendResult]:
        from .store import prepare_sends

        return prepare_sends(self.account, messages)

    def record_sends(self, sent: list[Any], unsent_ids: list[str]) -> None:
        from django.db import transaction

        from .binds import live_bind
        from .store import record_sends

        record_sends(self.account, unsent_ids)
        bind = live_bind(self.account.pk)
        ids = [smsc_id for _, result in sent for _, smsc_id in getattr(result, "parts", ())]
        if bind is not None and ids:
            transaction.on_commit(lambda: bind.parts_written(ids))

    # Connection check ----------------------------------------------------------------------

    def check_credentials(self) -> AccountInfo:
        config = session_config(self.account, window=1)

        async def bind_and_unbind() -> None:
            session = SmppSession(config)
            await session.open()
            await session.close()

        try:
            asyncio.run(bind_and_unbind())
        except (SmppError, OSError, TimeoutError) as exc:
            raise bind_error(exc, config) from None
        return AccountInfo(
            account_sid=config.system_id, friendly_name=f"SMPP {config.host}:{config.port}", status="active"
        )

    # Looking messages up -------------------------------------------------------------------

    def fetch_message(self, *, provider_sid: str) -> CarrierMessage:
        """query_sm for each part of the message still waiting for its receipt; the parts'
        states aggregated as receipts are. Needs the bind process's part records."""
        from numbers.models import SmppPart, SmppPartStatus

        from .store import aggregate_status

        if not (self.account.settings or {}).get("query_sm", True):
            raise PermanentProviderError("This SMSC does not answer query_sm.", code="smpp_no_query")
        parts = list(
            SmppPart.objects.filter(account=self.account, message__provider_sid=provider_sid)
            .select_related("message")
            .order_by("index")
        )
        if not parts:
            raise PermanentProviderError(f"No SMPP message {provider_sid}.", code="smpp_unknown_id")
        sender = codec.sender_address(parts[0].message.from_number or "")
        waiting = [part for part in parts if part.status == SmppPartStatus.SUBMITTED]
        config = session_config(self.account, bind_type="transmitter", window=1)

        async def query_all() -> list[Any]:
            session = SmppSession(config)
            await session.open()
            try:
                return [
                    await session.request(
                        "query_sm",
                        message_id=part.smsc_id,
                        source_addr_ton=sender[0],
                        source_addr_npi=sender[1],
                        source_addr=sender[2],
                    )
                    for part in waiting
                ]
            finally:
                await session.close()

        try:
            answers = asyncio.run(query_all()) if waiting else []
        except (SessionClosed, OSError, TimeoutError) as exc:
            raise bind_error(exc, config) from None
        except SmppError as exc:
            raise bind_error(exc, config) from None
        states = {part.index: (part.status, part.error_code, part.error_message) for part in parts}
        for part, answer in zip(waiting, answers, strict=True):
            if answer.status != codec.ESME_ROK:
                raise PermanentProviderError(
                    f"query_sm refused: {codec.status_name(answer.status)}",
                    code=codec.status_name(answer.status),
                )
            stat = codec.MESSAGE_STATES.get(answer.message_state or 0, "")
            receipt = codec.Receipt(part.smsc_id, stat, str(answer.error_code or ""))
            if receipt.status:
                states[part.index] = (receipt.status, receipt.error_code, receipt.error_message)
        status, code, message = aggregate_status(list(states.values()))
        return CarrierMessage(
            provider_sid=provider_sid, status=status or "", error_code=code, error_message=message
        )

    def find_sent(
        self, *, to: str, from_number: str | None, sent_since: datetime, limit: int
    ) -> list[CarrierMessage]:
        return []  # an SMSC keeps no list to search: a lost submit_sm_resp cannot be looked up

    # Events the bind process stored --------------------------------------------------------

    def validate_webhook(self, *, url: str, params: Mapping[str, str], signature: str) -> bool:
        return False  # SMPP events come over the bind, never over HTTP

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return False

    def read_webhook(self, route: str, request: WebhookRequest) -> list[ReceivedEvent]:
        raise ValueError("SMPP has no webhooks.")

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
        """An MO message's own id; a receipt's message, status and the part that decided it."""
        sid = str(payload.get("MessageSid") or "")
        if kind == EventKind.INBOUND:
            return sid
        return f"{sid}:{payload.get('MessageStatus') or ''}:{payload.get('part') or ''}"

    @staticmethod
    def parse_status(params: Mapping[str, Any]) -> StatusUpdate:
        sid, status = str(params.get("MessageSid") or ""), str(params.get("MessageStatus") or "")
        if not sid or status not in PLATFORM_STATUSES:
            raise ValueError("Not an SMPP status event.")
        return StatusUpdate(
            provider_sid=sid,
            status=status,
            error_code=str(params.get("ErrorCode") or "") or None,
            error_message=str(params.get("ErrorMessage") or "") or None,
            to_number=str(params.get("To") or ""),
            from_number=str(params.get("From") or ""),
            message_id=str(params.get("message_id") or ""),
        )

    @staticmethod
    def parse_inbound(params: Mapping[str, Any]) -> InboundMessage:
        if not params.get("MessageSid") or not params.get("From") or not params.get("To"):
            raise ValueError("Not an SMPP inbound event.")
        return InboundMessage(
            provider_sid=str(params["MessageSid"]),
            from_number=str(params["From"]),
            to_number=str(params["To"]),
            body=str(params.get("Body") or ""),
        )

    # Senders -------------------------------------------------------------------------------

    def list_numbers(self) -> list[NumberInfo]:
        """The senders the account's settings list (an SMSC has no API to list them)."""
        return [
            NumberInfo(
                phone_number=sender,
                provider_sid=f"smpp:{sender}",
                friendly_name=sender,
                sms=True,
                mms=False,
                voice=False,
            )
            for sender in (self.account.settings or {}).get("senders", [])
        ]

    def configure_number(self, *, number: NumberInfo, inbound_url: str, status_url: str) -> None:
        return None  # MO messages and receipts reach us over the bind
