"""The whole life of a message on the simulator carrier, as `make run` shows it."""

import pytest

from messaging.models import Conversation, Message, Status
from numbers.models import ProviderAccount
from numbers.providers import get_provider

pytestmark = pytest.mark.django_db


def test_an_invalid_recipient_fails_at_once_with_the_carriers_code(send):
    message = Message.objects.get(pk=send(to="+15005550001").json()["id"])
    assert (message.status, message.error_code) == (Status.FAILED, "21211")
    assert message.attempts == 1


def test_an_unreachable_handset_ends_undelivered(send):
    message = Message.objects.get(pk=send(to="+15005550002").json()["id"])
    assert (message.status, message.error_code) == (Status.UNDELIVERED, "30003")


def test_a_carrier_that_never_recovers_ends_failed_after_the_retry_bound(send, settings):
    settings.SEND_MAX_ATTEMPTS = 3
    message = Message.objects.get(pk=send(to="+15005550004").json()["id"])
    assert message.status == Status.FAILED
    assert message.attempts == 3


def test_the_simulated_reply_lands_in_the_same_conversation_unread(send):
    message = Message.objects.get(pk=send(to="+15005550005").json()["id"])
    assert message.status == Status.DELIVERED
    conversation = Conversation.objects.get(pk=message.conversation_id)
    reply = conversation.last_message
    assert (reply.direction, reply.status, reply.from_number) == ("inbound", "received", "+15005550005")
    assert conversation.unread_count == 1


def test_simulate_inbound_files_a_message_and_stop_opts_out(
    workspace, our_number, django_capture_on_commit_callbacks, api_client
):
    provider = get_provider(ProviderAccount.objects.get(workspace=workspace))
    with django_capture_on_commit_callbacks(execute=True):
        provider.simulate_inbound("+14155550100", our_number.phone_number, "STOP")
    inbound = Message.objects.get(direction="inbound")
    assert inbound.body == "STOP"
    refused = api_client.post("/api/messages", {"to": "+14155550100", "body": "hi"}, format="json")
    assert refused.json()["error"] == "recipient_opted_out"
