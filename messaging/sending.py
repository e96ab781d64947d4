"""Accepting messages: validation, the sender, opt-outs, segments; then queue or schedule."""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import signals
from django.db.models.base import ModelState
from django.utils import timezone

from messaging_platform.api import credentials
from messaging_platform.errors import DomainError
from messaging_platform.ids import new_ids
from numbers import routing
from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount
from numbers.phone import is_sender_id
from numbers.selectors import workspace_numbers, workspace_provider_account, workspace_routes
from workspaces.models import ApiKey, Workspace

from . import events, wakeup
from .enqueue import enqueue_many
from .message_store import messages_store
from .models import Direction, Message, MessageEvent, OptOut, Status
from .operations.logs import current as log_context
from .segments import count_segments


@dataclass(frozen=True)
class Sender:
    number: PhoneNumber | None
    messaging_service_sid: str = ""
    account_id: int | None = None  # the carrier account it goes through
    fallback_id: int | None = None  # its route's fallback account, if any

    @property
    def our_side(self) -> str:
        return self.number.phone_number if self.number else self.messaging_service_sid


@dataclass(frozen=True)
class SendContext:
    """What a send reads about its workspace: the carrier account, the numbers and the routes."""

    account: ProviderAccount | None
    numbers: dict[str, PhoneNumber]
    default: PhoneNumber | None
    rules: tuple[CarrierRoute, ...] = ()


def send_context(*, workspace: Workspace) -> SendContext:
    """The workspace's carrier account and numbers, cached per process and exact (a change to
    either empties the cache before the next request: messaging_platform/api/credentials.py)."""

    def load() -> SendContext:
        account = workspace_provider_account(workspace=workspace)
        numbers = list(workspace_numbers(workspace=workspace))
        return SendContext(
            account=account,
            numbers={n.phone_number: n for n in numbers},
            default=next((n for n in numbers if n.is_default), None),
            rules=tuple(workspace_routes(workspace=workspace)),
        )

    return credentials.cached("send-context", workspace.pk, load)


def resolve_sender(
    *, workspace: Workspace, account: ProviderAccount, from_number: str | None, is_mms: bool, to: str = ""
) -> Sender:
    """The number (and carrier account) a message goes out from: the one asked for; else the
    route for `to` (numbers.routing); else the Messaging Service when the account has one, else
    the workspace's default number.

    The one place a send's sender is chosen (single and batch sends, the UI send, the preview,
    broadcasts); a batch asks once per distinct `sender_key` of its messages."""
    context = send_context(workspace=workspace)
    rule = routing.matching_rule(context.rules, to) if to and not from_number else None
    if rule is not None:
        number = rule.sender or routing.account_sender(rule.account, context.numbers.values(), is_mms=is_mms)
        fallback = routing.active_fallback(rule)
        fallback_id = fallback.pk if fallback is not None else None
        if number is None and rule.account.messaging_service_sid:
            return Sender(
                number=None,
                messaging_service_sid=rule.account.messaging_service_sid,
                account_id=rule.account_id,
                fallback_id=fallback_id,
            )
        if number is None:
            raise DomainError(
                "from_number_not_allowed",
                f"The route for {rule.prefix} has no sender: give it one, add a number "
                "to its carrier account, or pass `from`.",
                fields={"from": ["No number of the route's account to send from."]},
            )
        _check_capable(number, is_mms)
        return Sender(number=number, account_id=rule.account_id, fallback_id=fallback_id)
    if from_number:
        number = context.numbers.get(from_number)
        if number is None and is_sender_id(from_number):
            # Not a phone number, and not an alphanumeric sender id of this workspace either.
            raise DomainError(
                "invalid_phone_number",
                f"'{from_number}' is not a phone number (nor a sender id of this "
                "workspace); use E.164, for example +14155552671.",
                fields={"from": ["Not a phone number."]},
            )
        if number is None:
            raise DomainError(
                "from_number_not_allowed",
                f"{from_number} is not a number of this workspace.",
                fields={"from": ["Not a number of this workspace."]},
            )
    elif account.messaging_service_sid:
        return Sender(number=None, messaging_service_sid=account.messaging_service_sid, account_id=account.pk)
    else:
        number = context.default
        if number is None:
            raise DomainError(
                "from_number_not_allowed",
                "This workspace has no default number: add a number or pass `from`.",
                fields={"from": ["No default number to send from."]},
            )
    _check_capable(number, is_mms)
    return Sender(number=number, account_id=number.account_id or account.pk)


def _check_capable(number: PhoneNumber, is_mms: bool) -> None:
    if not number.sms_enabled or (is_mms and not number.mms_enabled):
        kind = "MMS" if is_mms else "SMS"
        raise DomainError(
            "from_number_not_allowed",
            f"{number.phone_number} cannot send {kind}.",
            fields={"from": [f"This number cannot send {kind}."]},
        )


def opted_out_numbers(*, workspace: Workspace, numbers: Iterable[str]) -> set[str]:
    return set(
        OptOut.objects.for_workspace(workspace)
        .filter(phone_number__in=set(numbers))
        .values_list("phone_number", flat=True)
    )


def opted_out_error(to_number: str) -> DomainError:
    return DomainError(
        "recipient_opted_out",
        f"{to_number} has opted out of messages from this workspace.",
        fields={"to": ["This recipient opted out."]},
    )


def ensure_not_opted_out(*, workspace: Workspace, to_number: str) -> None:
    if opted_out_numbers(workspace=workspace, numbers=[to_number]):
        raise opted_out_error(to_number)


def sender_key(request: "SendRequest", context: SendContext) -> tuple:
    """What resolve_sender's answer depends on, so that a batch resolves each distinct one once:
    sends without `from` to destinations of one route share its sender."""
    rule = (
        routing.matching_rule(context.rules, request.to)
        if context.rules and not request.from_number
        else None
    )
    return (request.from_number, bool(request.media_urls), rule.id if rule else None)


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


def expiry(fields: dict) -> datetime | None:
    """When a send's `validity_period` (seconds) runs out, counted from its scheduled time if any."""
    seconds = fields.get("validity_period")
    if not seconds:
        return None
    return (fields.get("scheduled_at") or timezone.now()) + timedelta(seconds=seconds)


def _account_to_send_with(context: SendContext) -> ProviderAccount:
    if context.account is None:
        raise DomainError(
            "provider_not_configured",
            "This workspace has no carrier account; set one up under its provider settings first.",
        )
    return context.account


def message_check(*, workspace: Workspace, request: "SendRequest") -> None:
    """Raise the refusal a send of `request` would meet (carrier account, sender, opt-out),
    without storing anything: what a preview answers."""
    account = _account_to_send_with(send_context(workspace=workspace))
    resolve_sender(
        workspace=workspace,
        account=account,
        from_number=request.from_number,
        is_mms=bool(request.media_urls),
        to=request.to,
    )
    ensure_not_opted_out(workspace=workspace, to_number=request.to)


def message_send(
    *,
    workspace: Workspace,
    to: str,
    body: str,
    media_urls: list[str],
    from_number: str | None = None,
    status_callback: str = "",
    scheduled_at: datetime | None = None,
    expires_at: datetime | None = None,
    api_key: ApiKey | None = None,
    sent_by=None,
) -> Message:
    """Store an outbound message as `queued` (or `scheduled`) and hand it to a worker on commit."""
    request = SendRequest(
        to=to,
        body=body,
        media_urls=media_urls,
        from_number=from_number,
        status_callback=status_callback,
        scheduled_at=scheduled_at,
        expires_at=expires_at,
    )
    [result] = message_send_many(workspace=workspace, requests=[request], api_key=api_key, sent_by=sent_by)
    if isinstance(result, DomainError):
        raise result
    return result


def message_send_many(
    *, workspace: Workspace, requests: Sequence[SendRequest], api_key: ApiKey | None = None, sent_by=None
) -> list[Message | DomainError]:
    """Store many outbound messages, each checked by the rules of a single send (sender,
    opt-outs) and answered on its own: one refused message does not stop the others. A workspace
    without a carrier account refuses them all (raises).

    On PostgreSQL the opt-out check and the writes (conversations, messages, their events) are
    one statement: one round trip, atomic on its own, so no transaction is opened for it."""
    context = send_context(workspace=workspace)
    account = _account_to_send_with(context)
    senders: dict[tuple, Sender | DomainError] = {}
    # Each accepted sender is a placeholder, replaced by its message below.
    results: list[Message | Sender | DomainError] = []
    accepted: list[tuple[int, SendRequest, Sender]] = []
    for index, request in enumerate(requests):
        key = sender_key(request, context)
        if key not in senders:
            try:
                senders[key] = resolve_sender(
                    workspace=workspace,
                    account=account,
                    from_number=request.from_number,
                    is_mms=bool(request.media_urls),
                    to=request.to,
                )
            except DomainError as exc:
                senders[key] = exc
        sender = senders[key]
        results.append(sender)  # an accepted one is replaced by its message below
        if not isinstance(sender, DomainError):
            accepted.append((index, request, sender))
    if not accepted:
        return cast("list[Message | DomainError]", results)

    now = timezone.now()
    request_id = log_context().get("request_id", "")
    ids = new_ids("msg", len(accepted))  # at once: a batch makes a thousand
    shared = {
        "direction": Direction.OUTBOUND,
        "request_id": request_id,
        "created_at": now,
        "updated_at": now,
    }
    relations = {"workspace": workspace, "api_key": api_key, "sent_by": sent_by}
    rows = []
    for (_, request, sender), message_id in zip(accepted, ids, strict=True):
        segments = count_segments(request.body)
        rows.append(
            {
                "id": message_id,
                "status": Status.SCHEDULED if request.scheduled_at else Status.QUEUED,
                "to_number": request.to,
                "from_number": sender.number.phone_number if sender.number else "",
                "messaging_service_sid": sender.messaging_service_sid,
                "body": request.body,
                "media_urls": request.media_urls,
                "num_segments": max(1, segments.num_segments),
                "encoding": segments.encoding,
                "status_callback": request.status_callback,
                "scheduled_at": request.scheduled_at,
                "expires_at": request.expires_at,
                "broadcast_id": request.broadcast_id,
                "carrier_account_id": sender.account_id,
                "fallback_account_id": sender.fallback_id,
            }
        )
    messages = _messages_like(shared, relations, rows)
    our_sides = [sender.our_side for _, _, sender in accepted]
    if connection.vendor == "postgresql":
        opted_out = messages_store(workspace=workspace, messages=messages, our_sides=our_sides)
    else:
        opted_out = _store_with_the_orm(workspace=workspace, messages=messages, our_sides=our_sides, now=now)
    stored = []
    for (index, request, _), message in zip(accepted, messages, strict=True):
        if request.to in opted_out:
            results[index] = opted_out_error(request.to)
        else:
            results[index] = message
            stored.append(message)
    if stored:
        _after_store(workspace, stored)
    return cast("list[Message | DomainError]", results)


def _messages_like(shared: dict, relations: dict, rows: list[dict]) -> list[Message]:
    """Messages as `Message(**shared, **relations, **row)` makes them (`shared` and `row` by
    attname, `relations` by field name, given as instances or None; the same keys in each row),
    without a Model.__init__ per message: that was a third of a 1,000-message batch's web CPU
    (each field's default, each relation's descriptor), and a tenth of a single send's own. Through
    __init__ when something listens to a Message's init signals."""
    if signals.pre_init.has_listeners(Message) or signals.post_init.has_listeners(Message):
        return [Message(**shared, **relations, **row) for row in rows]
    columns = _relation_columns()
    given = dict(shared)
    for name, obj in relations.items():
        attname, target = columns[name]
        given[attname] = None if obj is None else getattr(obj, target)
    constant, fresh = _message_defaults()
    common = {**constant, **given}
    fresh_here = [f for f in fresh if f.attname not in common]
    messages = []
    for row in rows:
        message = Message.__new__(Message)
        values = message.__dict__
        values.update(common)
        values.update(row)
        for f in fresh_here:
            if f.attname not in row:
                values[f.attname] = f.get_default()
        state = ModelState()
        state.fields_cache = dict(relations)  # the workspace, key and user given as instances
        message._state = state
        messages.append(message)
    return messages


@functools.cache
def _relation_columns() -> dict[str, tuple[str, str]]:
    """For each relation of Message, its column's attribute and the attribute of the related
    object that its descriptor copies into it."""
    return {
        f.name: (f.attname, cast("models.ForeignKey", f).target_field.attname)
        for f in Message._meta.concrete_fields
        if f.is_relation
    }


@functools.cache
def _message_defaults() -> tuple[dict, tuple]:
    """What Message() leaves in each field that it is not given: the constant defaults (None for
    a field without one), and the fields whose default is made anew for each message."""
    constant, fresh = {}, []
    for f in Message._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            fresh.append(f)
        else:
            constant[f.attname] = f.get_default()
    return constant, tuple(fresh)


def _after_store(workspace: Workspace, messages: list[Message]) -> None:
    # Published before the sends are enqueued: a fast worker must not announce `sending` before
    # subscribers heard of the message at all. The wake-up's SET NX, when it is sent at all, goes
    # in the publish's round trip when both are on one Redis (after the PUBLISH in the
    # pipeline); the task, if one is due, after it.
    queued = [m.id for m in messages if m.status == Status.QUEUED]
    if not queued or settings.CELERY_TASK_ALWAYS_EAGER:  # eager: the wake-up delivers in-process
        events.messages_created(messages, workspace.id)
        if queued:
            transaction.on_commit(lambda: enqueue_many(queued))
        return

    def wake(answers: list | None) -> None:
        enqueue_many(queued, pending=bool(answers[0]) if answers else None)

    # No SET NX at all while this process knows the key held (messaging/wakeup.py: the memo).
    extra = events.Extra(wakeup.pending_command, wake, wanted=lambda: not wakeup.pending_known())
    events.messages_created(messages, workspace.id, extra=extra)


@transaction.atomic(savepoint=False)
def _store_with_the_orm(
    *, workspace: Workspace, messages: list[Message], our_sides: list[str], now: datetime
) -> set[str]:
    """The same writes as messages_store, with the ORM, for databases other than PostgreSQL."""
    from .conversations import conversations_touch

    opted_out = opted_out_numbers(workspace=workspace, numbers=(m.to_number for m in messages))
    kept = [(m, side) for m, side in zip(messages, our_sides, strict=True) if m.to_number not in opted_out]
    if not kept:
        return opted_out
    # In order, so the last message of each conversation becomes its last_message.
    latest = {(side, m.to_number): m for m, side in kept}
    conversation_ids = conversations_touch(workspace=workspace, latest=latest, at=now)
    for m, side in kept:
        m.conversation_id = conversation_ids[(side, m.to_number)]
    Message.objects.bulk_create([m for m, _ in kept])
    MessageEvent.objects.bulk_create(
        [MessageEvent(message=m, status=m.status, source="api", created_at=now) for m, _ in kept]
    )
    return opted_out


@dataclass(frozen=True)
class Preview:
    characters: int
    num_segments: int
    encoding: str
    units: int
    units_per_segment: int


def message_preview(*, body: str) -> Preview:
    info = count_segments(body)
    return Preview(
        characters=info.characters,
        num_segments=info.num_segments,
        encoding=info.encoding,
        units=info.units,
        units_per_segment=info.units_per_segment,
    )
