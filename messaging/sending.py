"""Accepting messages: validation, the sender, opt-outs, segments; then queue or schedule."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from messaging_platform.api.errors import ApiError
from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import BIND_PROVIDERS
from numbers.selectors import default_sender, require_provider_account, workspace_number_by_e164
from workspaces.models import ApiKey, Workspace

from . import events
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


def opted_out_numbers(*, workspace: Workspace, numbers: Iterable[str]) -> set[str]:
    return set(OptOut.objects.for_workspace(workspace).filter(phone_number__in=set(numbers))
               .values_list("phone_number", flat=True))


def opted_out_error(to_number: str) -> ApiError:
    return ApiError("recipient_opted_out",
                    f"{to_number} has opted out of messages from this workspace.",
                    fields={"to": ["This recipient opted out."]})


def ensure_not_opted_out(*, workspace: Workspace, to_number: str) -> None:
    if opted_out_numbers(workspace=workspace, numbers=[to_number]):
        raise opted_out_error(to_number)


@dataclass(frozen=True)
class SendRequest:
    """One message to send, as the API validated it."""

    to: str
    body: str
    media_urls: list[str] = field(default_factory=list)
    from_number: str | None = None
    status_callback: str = ""
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    broadcast_id: str | None = None


def message_send(*, workspace: Workspace, to: str, body: str, media_urls: list[str],
                 from_number: str | None = None, status_callback: str = "",
                 scheduled_at: datetime | None = None, api_key: ApiKey | None = None,
                 sent_by=None) -> Message:
    """Store an outbound message as `queued` (or `scheduled`) and hand it to a worker on commit."""
    request = SendRequest(to=to, body=body, media_urls=media_urls, from_number=from_number,
                          status_callback=status_callback, scheduled_at=scheduled_at)
    [result] = message_send_many(workspace=workspace, requests=[request], api_key=api_key,
                                 sent_by=sent_by)
    if isinstance(result, ApiError):
        raise result
    return result


# No savepoint when nested (the API's idempotency block): each is a round trip, and an error here
# fails the whole request anyway.
@transaction.atomic(savepoint=False)
def message_send_many(*, workspace: Workspace, requests: Sequence[SendRequest],
                      api_key: ApiKey | None = None, sent_by=None) -> list[Message | ApiError]:
    """Store many outbound messages in a few queries, each checked by the rules of a single send
    (sender, opt-outs) and answered on its own: one refused message does not stop the others.
    A workspace without a carrier account refuses them all (raises)."""
    from .conversations import conversations_touch

    account = require_provider_account(workspace=workspace)
    senders: dict[tuple[str | None, bool], Sender | ApiError] = {}
    opted_out = opted_out_numbers(workspace=workspace, numbers=(r.to for r in requests))
    results: list[Message | ApiError] = []
    accepted: list[tuple[int, SendRequest, Sender]] = []
    for index, request in enumerate(requests):
        key = (request.from_number, bool(request.media_urls))
        if key not in senders:
            try:
                senders[key] = resolve_sender(workspace=workspace, account=account,
                                              from_number=request.from_number,
                                              is_mms=bool(request.media_urls))
            except ApiError as exc:
                senders[key] = exc
        sender = senders[key]
        if isinstance(sender, ApiError):
            results.append(sender)
        elif request.to in opted_out:
            results.append(opted_out_error(request.to))
        else:
            results.append(sender)  # replaced by its message below
            accepted.append((index, request, sender))
    if not accepted:
        return results

    now = timezone.now()
    messages = []
    for index, request, sender in accepted:
        segments = count_segments(request.body)
        message = Message(
            workspace=workspace,
            direction=Direction.OUTBOUND,
            status=Status.SCHEDULED if request.scheduled_at else Status.QUEUED,
            to_number=request.to,
            from_number=sender.number.phone_number if sender.number else "",
            messaging_service_sid=sender.messaging_service_sid,
            body=request.body,
            media_urls=request.media_urls,
            num_segments=max(1, segments.num_segments),
            encoding=segments.encoding,
            status_callback=request.status_callback,
            scheduled_at=request.scheduled_at,
            expires_at=request.expires_at,
            broadcast_id=request.broadcast_id,
            api_key=api_key,
            sent_by=sent_by,
            created_at=now,
            updated_at=now,
        )
        results[index] = message
        messages.append(message)
    # In order, so the last message of each conversation becomes its last_message.
    latest = {(sender.our_side, request.to): message
              for (_, request, sender), message in zip(accepted, messages, strict=True)}
    conversation_ids = conversations_touch(workspace=workspace, latest=latest, at=now)
    for (_, request, sender), message in zip(accepted, messages, strict=True):
        message.conversation_id = conversation_ids[(sender.our_side, request.to)]
    Message.objects.bulk_create(messages)
    MessageEvent.objects.bulk_create(
        [MessageEvent(message=m, status=m.status, source="api", created_at=now) for m in messages])
    # Published before the sends are enqueued (on_commit keeps this order): a fast worker must not
    # announce `sending` before subscribers heard of the message at all.
    events.messages_created(messages, workspace.id)
    queued = [m.id for m in messages if m.status == Status.QUEUED]
    # A bind process (SMPP) claims its messages from the table itself: no task to enqueue.
    if queued and account.provider not in BIND_PROVIDERS:
        from .tasks import enqueue_many

        transaction.on_commit(lambda: enqueue_many(queued))
    return results


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
