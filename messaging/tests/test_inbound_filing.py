"""Inbound messages stored by carrier webhooks are filed into their conversations a batch at a
time: each conversation once, its unread count raised by the batch's messages, its last message
the newest; a carrier's repeat of a message is not filed twice; consent keywords keep their
opt-out and the batch's order."""

import pytest

from messaging import carrier_events
from messaging.models import CarrierEvent, Contact, Conversation, Message, MessageEvent, OptOut, Status
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import inbound_params, new_sid

pytestmark = pytest.mark.django_db

ALICE, BOB = "+14155550101", "+14155550102"


def stored_inbound(
    workspace,
    *,
    from_number: str,
    body: str,
    to_number: str = TWILIO_LONG_CODE,
    sid: str | None = None,
    key: str | None = None,
) -> CarrierEvent:
    sid = sid or new_sid("SM")
    params = inbound_params(from_number=from_number, to_number=to_number, body=body, message_sid=sid)
    return CarrierEvent.objects.create(
        workspace=workspace,
        provider="twilio",
        kind="inbound",
        dedupe_key=key or f"inbound:{sid}",
        provider_sid=sid,
        params=params,
    )


def test_a_batch_files_each_sender_into_one_conversation(twilio_workspace):
    for n in range(3):
        stored_inbound(twilio_workspace, from_number=ALICE, body=f"alice {n}")
    stored_inbound(twilio_workspace, from_number=BOB, body="bob")
    assert carrier_events.carrier_events_apply() == 4

    alice = Conversation.objects.get(workspace=twilio_workspace, contact_number=ALICE)
    assert (alice.our_number, alice.unread_count) == (TWILIO_LONG_CODE, 3)
    assert alice.last_message.body == "alice 2"
    assert list(
        Message.objects.filter(conversation=alice).order_by("body").values_list("body", "status", "direction")
    ) == [(f"alice {n}", Status.RECEIVED, "inbound") for n in range(3)]
    bob = Conversation.objects.get(workspace=twilio_workspace, contact_number=BOB)
    assert (bob.unread_count, bob.last_message.body) == (1, "bob")
    assert MessageEvent.objects.filter(status=Status.RECEIVED, source="carrier").count() == 4
    assert set(Contact.objects.filter(workspace=twilio_workspace).values_list("phone_number", flat=True)) == {
        ALICE,
        BOB,
    }
    assert not CarrierEvent.objects.filter(processed_at__isnull=True).exists()
    assert set(CarrierEvent.objects.values_list("error", flat=True)) == {""}


def test_a_later_batch_adds_to_the_unread_count(twilio_workspace):
    stored_inbound(twilio_workspace, from_number=ALICE, body="first")
    carrier_events.carrier_events_apply()
    stored_inbound(twilio_workspace, from_number=ALICE, body="second")
    carrier_events.carrier_events_apply()
    conversation = Conversation.objects.get(contact_number=ALICE)
    assert (conversation.unread_count, conversation.last_message.body) == (2, "second")


def test_the_same_message_stored_twice_is_filed_once(twilio_workspace):
    sid = new_sid("SM")
    first = stored_inbound(twilio_workspace, from_number=ALICE, body="hi", sid=sid, key="a")
    again = stored_inbound(twilio_workspace, from_number=ALICE, body="hi", sid=sid, key="b")
    carrier_events.carrier_events_apply()
    assert Message.objects.filter(provider_sid=sid).count() == 1
    first.refresh_from_db()
    again.refresh_from_db()
    assert {first.message_id, again.message_id} == {Message.objects.get().id, None}
    assert Conversation.objects.get().unread_count == 1


def test_a_message_to_a_number_not_ours_is_refused_and_the_rest_filed(twilio_workspace):
    stray = stored_inbound(twilio_workspace, from_number=ALICE, body="lost", to_number="+13125550199")
    stored_inbound(twilio_workspace, from_number=ALICE, body="found")
    carrier_events.carrier_events_apply()
    stray.refresh_from_db()
    assert "is not a number of this workspace" in stray.error and stray.message_id is None
    assert list(Message.objects.values_list("body", flat=True)) == ["found"]


def test_a_stop_in_the_middle_of_a_batch_opts_out_and_keeps_the_order(twilio_workspace):
    stored_inbound(twilio_workspace, from_number=ALICE, body="hello")
    stored_inbound(twilio_workspace, from_number=ALICE, body="STOP")
    stored_inbound(twilio_workspace, from_number=ALICE, body="one more")
    carrier_events.carrier_events_apply()
    assert OptOut.objects.filter(workspace=twilio_workspace, phone_number=ALICE).exists()
    conversation = Conversation.objects.get(contact_number=ALICE)
    assert (conversation.unread_count, conversation.last_message.body) == (3, "one more")
