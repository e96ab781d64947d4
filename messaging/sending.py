"""Accepting messages: validation, the sender, opt-outs, segments; then queue or schedule."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from messaging_platform.api.errors import ApiError
from numbers.models import PhoneNumber, ProviderAccount
from numbers.selectors import default_sender, require_provider_account, workspace_number_by_e164
from workspaces.models import ApiKey, Workspace

from . import events
from .conversations import conversation_for
from .models import Direction, Message, MessageEvent, OptOut, Status
from .segments import count_segments


@dataclass(frozen=True)
class Sender:
    number: PhoneNumber | None
    messaging_service_sid: str = ""

    @property
    def our_side(self) -> str:
        return self.number.phone_number if self.number else self.messaging_service_sid


def resolve_sender(*, workspace: Workspace, account: ProviderAccount, from_number: str | None,
                   is_mms: bool) -> Sender:
    """The number a message goes out from: the one asked for, else the Messaging Service when the
    account has one, else the workspace's default number."""
    if from_number:
        number = workspace_number_by_e164(workspace=workspace, phone_number=from_number)
        if number is None:
            raise ApiError("from_number_not_allowed",
                           f"{from_number} is not a number of this workspace.",
                           fields={"from": ["Not a number of this workspace."]})
    elif account.messaging_service_sid:
        return Sender(number=None, messaging_service_sid=account.messaging_service_sid)
    else:
        number = default_sender(workspace=workspace)
        if number is None:
            raise ApiError("from_number_not_allowed",
                           "This workspace has no default number: add a number or pass `from`.",
                           fields={"from": ["No default number to send from."]})
    if not number.sms_enabled or (is_mms and not number.mms_enabled):
        kind = "MMS" if is_mms else "SMS"
        raise ApiError("from_number_not_allowed", f"{number.phone_number} cannot send {kind}.",
                       fields={"from": [f"This number cannot send {kind}."]})
    return Sender(number=number)


def ensure_not_opted_out(*, workspace: Workspace, to_number: str) -> None:
    if OptOut.objects.for_workspace(workspace).filter(phone_number=to_number).exists():
        raise ApiError("recipient_opted_out",
                       f"{to_number} has opted out of messages from this workspace.",
                       fields={"to": ["This recipient opted out."]})


@transaction.atomic
def message_send(*, workspace: Workspace, to: str, body: str, media_urls: list[str],
                 from_number: str | None = None, status_callback: str = "",
                 scheduled_at: datetime | None = None, api_key: ApiKey | None = None,
                 sent_by=None) -> Message:
    """Store an outbound message as `queued` (or `scheduled`) and hand it to a worker on commit."""
    account = require_provider_account(workspace=workspace)
    sender = resolve_sender(workspace=workspace, account=account, from_number=from_number,
                            is_mms=bool(media_urls))
    ensure_not_opted_out(workspace=workspace, to_number=to)
    segments = count_segments(body)
    conversation = conversation_for(workspace=workspace, our_side=sender.our_side, contact=to)
    status = Status.SCHEDULED if scheduled_at else Status.QUEUED
    message = Message.objects.create(
        workspace=workspace,
        direction=Direction.OUTBOUND,
        status=status,
        to_number=to,
        from_number=sender.number.phone_number if sender.number else "",
        messaging_service_sid=sender.messaging_service_sid,
        body=body,
        media_urls=media_urls,
        num_segments=max(1, segments.num_segments),
        encoding=segments.encoding,
        status_callback=status_callback,
        scheduled_at=scheduled_at,
        conversation=conversation,
        api_key=api_key,
        sent_by=sent_by,
    )
    MessageEvent.objects.create(message=message, status=status, source="api")
    conversation.last_message = message
    conversation.last_message_at = message.created_at
    conversation.save(update_fields=["last_message", "last_message_at"])
    if status == Status.QUEUED:
        from .tasks import enqueue_send

        transaction.on_commit(lambda: enqueue_send(message.id))
    events.message_created(message)
    return message


@transaction.atomic
def message_cancel(*, message: Message, source: str = "api") -> Message:
    """Cancel a scheduled message; anything already queued or sent cannot be called back."""
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.status != Status.SCHEDULED:
        raise ApiError("not_cancelable",
                       f"Only scheduled messages can be canceled; this one is {locked.status}.",
                       status=409)
    locked.status = Status.CANCELED
    locked.save(update_fields=["status", "updated_at"])
    MessageEvent.objects.create(message=locked, status=Status.CANCELED, source=source)
    events.message_updated(locked)
    return locked


@dataclass(frozen=True)
class Preview:
    characters: int
    num_segments: int
    encoding: str
    units: int
    units_per_segment: int


def message_preview(*, body: str) -> Preview:
    info = count_segments(body)
    return Preview(characters=info.characters, num_segments=info.num_segments,
                   encoding=info.encoding, units=info.units,
                   units_per_segment=info.units_per_segment)
