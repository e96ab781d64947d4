"""Filing a batch of inbound messages into their conversations at once: the workers' side of
inbound carrier webhooks (messaging.carrier_events applies the stored events in batches).

For a batch: one query for the carrier ids already received, each workspace's senders read once,
one statement for the conversations, messages and `received` events (messaging/message_store.py),
and one insert of the senders' contacts per workspace. Consent keywords (STOP, START, HELP) are
not filed here: the caller files them one by one with their opt-out or opt-in.
"""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone

from numbers.models import PhoneNumber
from numbers.providers.base import InboundMessage
from numbers.routing import primary_account

from .contacts import contacts_ensure
from .message_store import inbound_messages_store
from .models import CarrierEvent, Direction, Message, Status
from .segments import count_segments

Filed = Message | None | LookupError  # filed, received before, or not for this workspace


def _senders(event: CarrierEvent) -> tuple[str, frozenset[str]]:
    """The workspace's Messaging Service (or "") and its numbers: what an inbound message may
    have reached (the rule of carrier_events.find_our_side)."""
    account = primary_account(workspace=event.workspace)
    numbers = frozenset(
        PhoneNumber.objects.for_workspace(event.workspace).values_list("phone_number", flat=True)
    )
    return (account.messaging_service_sid if account else "") or "", numbers


def inbound_file_many(items: list[tuple[CarrierEvent, InboundMessage]]) -> dict[str, Filed]:
    """File each event's inbound message into its conversation; what became of each, by event id.
    A message whose carrier id was received before (in an earlier batch or earlier in this one)
    is not filed again."""
    results: dict[str, Filed] = {}
    if not items:
        return results
    seen = set(
        Message.objects.filter(provider_sid__in={i.provider_sid for _, i in items}).values_list(
            "provider_sid", flat=True
        )
    )
    senders: dict[str, tuple[str, frozenset[str]]] = {}
    messages: list[Message] = []
    our_sides: list[str] = []
    contacts: dict[str, set[str]] = defaultdict(set)
    now = timezone.now()
    for event, inbound in items:
        if inbound.provider_sid in seen:
            results[event.id] = None
            continue
        if event.workspace_id not in senders:
            senders[event.workspace_id] = _senders(event)
        service_sid, numbers = senders[event.workspace_id]
        if service_sid and inbound.messaging_service_sid == service_sid:
            our_side = service_sid
        elif inbound.to_number in numbers:
            our_side = inbound.to_number
        else:
            results[event.id] = LookupError(f"{inbound.to_number} is not a number of this workspace.")
            continue
        seen.add(inbound.provider_sid)
        segments = count_segments(inbound.body)
        message = Message(
            workspace_id=event.workspace_id,
            direction=Direction.INBOUND,
            status=Status.RECEIVED,
            to_number=inbound.to_number,
            from_number=inbound.from_number,
            messaging_service_sid=inbound.messaging_service_sid,
            body=inbound.body,
            media_urls=inbound.media_urls,
            num_segments=max(1, segments.num_segments),
            encoding=segments.encoding,
            provider_sid=inbound.provider_sid,
            created_at=now,
            updated_at=now,
        )
        messages.append(message)
        our_sides.append(our_side)
        contacts[event.workspace_id].add(inbound.from_number)
        results[event.id] = message
    if messages:
        inbound_messages_store(messages=messages, our_sides=our_sides)
        for workspace_id, phone_numbers in contacts.items():
            contacts_ensure(workspace_id=workspace_id, phone_numbers=phone_numbers)
    return results
