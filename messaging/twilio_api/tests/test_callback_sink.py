"""The sink's check for a workspace's callbacks, on PostgreSQL: one cheap statement for a batch
of a workspace that has none, and a StatusCallback or SmsUrl committed by another process (here:
another connection) honoured at the very next event of this one."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from messaging import events
from messaging.models import Message
from numbers.models import PhoneNumber

from .. import callbacks
from ..models import CallbackDelivery, CallbackKind, MessageStatusCallback

NUMBER = "+12025550100"
TO = "+14155550142"


@pytest.fixture(autouse=True)
def _fresh_process():
    """This process has seen no workspace yet (as one started now)."""
    for _, seen in (callbacks._STATUS_CALLBACKS, callbacks._SMS_URLS):
        seen.clear()
    yield
    for _, seen in (callbacks._STATUS_CALLBACKS, callbacks._SMS_URLS):
        seen.clear()


def other_process():
    """A second connection to the test database, committing on its own (another process)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )


def outbound(workspace, status: str) -> Message:
    return Message.objects.create(
        workspace=workspace, direction="outbound", status=status, to_number=TO, from_number=NUMBER, body="Hi"
    )


def inbound(workspace) -> Message:
    return Message.objects.create(
        workspace=workspace,
        direction="inbound",
        status="received",
        to_number=NUMBER,
        from_number=TO,
        body="Yo",
    )


def publish(workspace, event_type: str, messages: list[Message]) -> None:
    callbacks.on_platform_events(
        workspace.id,
        [{"id": f"evt_{m.id}", "type": event_type, "data": events.message_payload(m)} for m in messages],
    )


pytestmark = pytest.mark.django_db


def test_a_workspace_without_callbacks_costs_one_statement_per_batch(workspace, django_assert_num_queries):
    sent = [outbound(workspace, "sent") for _ in range(50)]
    received = [inbound(workspace) for _ in range(5)]
    with django_assert_num_queries(1):
        publish(workspace, events.MESSAGE_UPDATED, sent)
    with django_assert_num_queries(1):
        publish(workspace, events.MESSAGE_CREATED, received)
    assert not CallbackDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_status_callback_committed_elsewhere_is_posted_at_the_messages_next_status(workspace):
    earlier = outbound(workspace, "sent")
    publish(workspace, events.MESSAGE_UPDATED, [earlier])  # this process: the workspace has none
    assert not CallbackDelivery.objects.exists()

    message = outbound(workspace, "queued")
    with other_process() as other:  # another process sends it with a StatusCallback
        other.execute(
            "INSERT INTO twilio_api_messagestatuscallback (message_id, workspace_id, url, last_status) "
            "VALUES (%s, %s, %s, '')",
            [message.id, workspace.id, "https://app.example.com/status"],
        )
    message.status = "sent"
    publish(workspace, events.MESSAGE_UPDATED, [earlier, message])

    (delivery,) = CallbackDelivery.objects.all()
    assert (delivery.message_id, delivery.kind, delivery.url) == (
        message.id,
        CallbackKind.STATUS,
        "https://app.example.com/status",
    )
    assert delivery.params["MessageStatus"] == "sent"

    # From now on this process goes straight to the exact query: each status is posted once.
    message.status = "delivered"
    publish(workspace, events.MESSAGE_UPDATED, [message])
    publish(workspace, events.MESSAGE_UPDATED, [message])  # republished, no new status
    assert list(
        CallbackDelivery.objects.order_by("created_at").values_list("params__MessageStatus", flat=True)
    ) == [
        "sent",
        "delivered",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_sms_url_set_elsewhere_is_posted_at_the_next_inbound_message(workspace):
    number = PhoneNumber.objects.create(workspace=workspace, phone_number=NUMBER, is_default=True)
    publish(workspace, events.MESSAGE_CREATED, [inbound(workspace)])
    assert not CallbackDelivery.objects.exists()

    with other_process() as other:  # another process sets the number's SmsUrl
        other.execute(
            "INSERT INTO twilio_api_numberwebhooks (phone_number_id, workspace_id, sms_url, sms_method, "
            "status_callback, status_callback_method, updated_at) "
            "VALUES (%s, %s, %s, 'POST', '', 'POST', now())",
            [number.pk, workspace.id, "https://app.example.com/sms"],
        )
    message = inbound(workspace)
    publish(workspace, events.MESSAGE_CREATED, [message])

    (delivery,) = CallbackDelivery.objects.all()
    assert (delivery.message_id, delivery.kind, delivery.url) == (
        message.id,
        CallbackKind.INCOMING,
        "https://app.example.com/sms",
    )
    assert delivery.params["Body"] == "Yo" and delivery.params["To"] == NUMBER


def test_a_workspace_whose_callbacks_are_gone_gets_no_posts(workspace):
    message = outbound(workspace, "queued")
    MessageStatusCallback.objects.create(
        message=message, workspace=workspace, url="https://app.example.com/s"
    )
    message.status = "sent"
    publish(workspace, events.MESSAGE_UPDATED, [message])  # remembered: the workspace has some
    assert CallbackDelivery.objects.count() == 1

    MessageStatusCallback.objects.all().delete()
    message.status = "delivered"
    publish(workspace, events.MESSAGE_UPDATED, [message])
    assert CallbackDelivery.objects.count() == 1
