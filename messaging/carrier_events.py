"""Carrier events (webhooks and simulator events), stored raw by messaging.carrier_intake, are
applied here by a worker.

A carrier's retry of the same event hits the unique dedupe key at intake and changes nothing.
"""

import logging

from django.db import transaction
from django.utils import timezone

from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import adapter_class
from numbers.providers.base import InboundMessage
from workspaces.models import Workspace

from . import events
from .conversations import conversation_file_inbound, conversation_for
from .delivery import message_apply_status
from .models import (
    CarrierEvent,
    CarrierEventKind,
    ConsentAction,
    ConsentEvent,
    Direction,
    Message,
    MessageEvent,
    OptOut,
    Status,
)
from .segments import count_segments

logger = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_KEYWORDS = {"START", "YES", "UNSTOP"}
HELP_KEYWORDS = {"HELP", "INFO"}


def carrier_event_process(*, event_id: str) -> None:
    """Apply one stored carrier event, once."""
    with transaction.atomic():
        event = (CarrierEvent.objects.select_for_update(of=("self",))
                 .select_related("workspace", "message")
                 .filter(pk=event_id, processed_at__isnull=True).first())
        if event is None:
            return
        try:
            with transaction.atomic():
                if event.kind == CarrierEventKind.STATUS:
                    _apply_status(event)
                else:
                    _receive(event)
        except (ValueError, LookupError) as exc:
            logger.warning("Carrier event %s not applied: %s", event.id, exc)
            event.error = str(exc)[:1000]
        event.processed_at = timezone.now()
        event.save(update_fields=["processed_at", "error", "message"])


def _parser(event: CarrierEvent):
    """The adapter that reads this event's stored payload (its parse functions need no account)."""
    try:
        return adapter_class(event.provider)
    except KeyError:
        raise LookupError(f"No carrier adapter named {event.provider!r}.") from None


def _apply_status(event: CarrierEvent) -> None:
    update = _parser(event).parse_status(event.params)
    message = event.message
    if message is None and update.message_id:
        message = Message.objects.for_workspace(event.workspace).filter(pk=update.message_id).first()
    if message is None and update.provider_sid:
        message = (Message.objects.for_workspace(event.workspace)
                   .filter(provider_sid=update.provider_sid).first())
    if message is None:
        raise LookupError(f"No message with sid {update.provider_sid}.")
    event.message = message
    message_apply_status(message=message, status=update.status, error_code=update.error_code,
                         error_message=update.error_message, provider_sid=update.provider_sid)


def find_our_side(workspace: Workspace, inbound: InboundMessage) -> str | None:
    """Which of our senders an inbound message reached: a number of the workspace, or the
    workspace's Messaging Service when the number sits in its pool."""
    account = ProviderAccount.objects.for_workspace(workspace).first()
    if (account and account.messaging_service_sid
            and inbound.messaging_service_sid == account.messaging_service_sid):
        return account.messaging_service_sid
    if PhoneNumber.objects.for_workspace(workspace).filter(phone_number=inbound.to_number).exists():
        return inbound.to_number
    return None


def _receive(event: CarrierEvent) -> None:
    workspace = event.workspace
    inbound = _parser(event).parse_inbound(event.params)
    if Message.objects.filter(provider_sid=inbound.provider_sid).exists():
        return  # the same message reached us twice
    our_side = find_our_side(workspace, inbound)
    if our_side is None:
        raise LookupError(f"{inbound.to_number} is not a number of this workspace.")
    conversation = conversation_for(workspace=workspace, our_side=our_side,
                                    contact=inbound.from_number)
    segments = count_segments(inbound.body)
    message = Message.objects.create(
        workspace=workspace, direction=Direction.INBOUND, status=Status.RECEIVED,
        to_number=inbound.to_number, from_number=inbound.from_number,
        messaging_service_sid=inbound.messaging_service_sid, body=inbound.body,
        media_urls=inbound.media_urls, num_segments=max(1, segments.num_segments),
        encoding=segments.encoding, provider_sid=inbound.provider_sid, conversation=conversation,
    )
    MessageEvent.objects.create(message=message, status=Status.RECEIVED, source="carrier")
    conversation_file_inbound(conversation=conversation, message=message)
    event.message = message
    _apply_consent_keyword(workspace, message)
    events.message_created(message)


def _apply_consent_keyword(workspace: Workspace, message: Message) -> None:
    keyword = message.body.strip().upper()
    contact = message.from_number
    if keyword in OPT_OUT_KEYWORDS:
        OptOut.objects.get_or_create(workspace=workspace, phone_number=contact,
                                     defaults={"keyword": keyword})
        action = ConsentAction.OPT_OUT
    elif keyword in OPT_IN_KEYWORDS:
        OptOut.objects.for_workspace(workspace).filter(phone_number=contact).delete()
        action = ConsentAction.OPT_IN
    elif keyword in HELP_KEYWORDS:
        action = ConsentAction.HELP
    else:
        return
    ConsentEvent.objects.create(workspace=workspace, phone_number=contact, action=action,
                                keyword=keyword, message=message)


def sweep_carrier_events(*, older_than_seconds: int = 60, batch: int = 500) -> int:
    """Re-enqueue stored events that no worker applied (a lost broker message)."""
    from datetime import timedelta

    from .tasks import enqueue_carrier_event

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = list(CarrierEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
                   .values_list("pk", flat=True)[:batch])
    for event_id in pending:
        enqueue_carrier_event(event_id)
    return len(pending)


def on_simulated_carrier_event(sender, *, workspace_id: str, kind: str, payload: dict,
                               **kwargs) -> None:
    """The simulator carrier's events take the same path as a real carrier's webhooks."""
    from .carrier_intake import carrier_event_store, intake_event

    if not Workspace.objects.filter(pk=workspace_id).exists():
        return
    try:
        event = intake_event(workspace_id=workspace_id, provider=str(sender), kind=kind,
                             payload=payload)
    except ValueError as exc:
        logger.warning("Unreadable %s event for %s: %s", sender, workspace_id, exc)
        return
    carrier_event_store(event)
