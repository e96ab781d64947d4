"""Telnyx end to end: the platform served over HTTP, a real Celery worker on Redis and PostgreSQL,
and the fake Telnyx over loopback posting webhooks signed with its test Ed25519 key."""

import json

import pytest
import requests

from conftest import require_service, uses_postgres
from messaging.models import CarrierEvent, Message, MessageEvent, Status
from messaging_platform.celery import app as celery_app
from messaging_platform.testing.fixtures import TELNYX_NUMBER
from messaging_platform.testing.processes import WorkerProcess, wait_until
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"


@pytest.fixture
def platform(live_server, settings, fake_telnyx, telnyx_account, user, workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    settings.PUBLIC_BASE_URL = live_server.url
    fake_telnyx.callbacks = True
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="telnyx",
        auth_token=telnyx_account.api_key,
        settings={
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TELNYX_NUMBER, is_default=True)
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not celery_app.conf.task_always_eager
    worker = WorkerProcess(
        {"TELNYX_API_BASE_URL": fake_telnyx.base_url, "SEND_RATE_LONG_CODE": "1000"}
    ).start()
    yield {
        "url": live_server.url,
        "key": key.key,
        "fake": fake_telnyx,
        "workspace": workspace,
        "worker": worker,
    }
    worker.stop()


def test_a_message_is_sent_through_telnyx_and_delivered_by_its_signed_webhooks(platform):
    response = requests.post(
        f"{platform['url']}/api/messages",
        json={"to": CONTACT, "body": "Via Telnyx"},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    message_id = response.json()["id"]
    wait_until(
        lambda: Message.objects.filter(pk=message_id, status=Status.DELIVERED).exists(),
        timeout=30,
        what=f"delivery; worker log:\n{platform['worker'].log()}",
    )
    [sent] = platform["fake"].messages
    assert (sent.to, sent.from_number, sent.text) == (CONTACT, TELNYX_NUMBER, "Via Telnyx")
    assert sent.webhook_url == (
        f"{platform['url']}/webhooks/telnyx/{platform['workspace'].id}/status?message_id={message_id}"
    )
    assert Message.objects.get(pk=message_id).provider_sid == sent.id
    statuses = list(MessageEvent.objects.filter(message_id=message_id).values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sent", "delivered"]
    assert {status for _, status in platform["fake"].callbacks_sent} == {200}


def test_an_undelivered_message_keeps_the_telnyx_error_code(platform):
    platform["fake"].set_delivery_outcome(CONTACT, "delivery_failed", "40001")
    response = requests.post(
        f"{platform['url']}/api/messages",
        json={"to": CONTACT, "body": "x"},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    message_id = response.json()["id"]
    wait_until(
        lambda: Message.objects.filter(pk=message_id, status=Status.UNDELIVERED).exists(),
        timeout=30,
        what="undelivered",
    )
    assert Message.objects.get(pk=message_id).error_code == "40001"


def test_an_inbound_message_is_stored_and_a_forged_one_is_refused(platform):
    url = f"{platform['url']}/webhooks/telnyx/{platform['workspace'].id}/inbound"
    fake = platform["fake"]
    answer = fake.post_inbound(
        url,
        from_number=CONTACT,
        to_number=TELNYX_NUMBER,
        text="Hello",
        media_urls=["https://media.example/a.jpg"],
    )
    assert answer.status_code == 200
    message = wait_until(
        lambda: Message.objects.filter(direction="inbound").first(), timeout=30, what="the inbound message"
    )
    assert (message.from_number, message.to_number, message.body, message.media_urls) == (
        CONTACT,
        TELNYX_NUMBER,
        "Hello",
        ["https://media.example/a.jpg"],
    )

    body = json.dumps(
        {
            "data": {
                "event_type": "message.received",
                "id": "ev-forged",
                "payload": {
                    "id": "forged",
                    "from": {"phone_number": CONTACT},
                    "to": [{"phone_number": TELNYX_NUMBER}],
                    "text": "Forged",
                },
            }
        }
    ).encode()
    headers = fake.sign(body)
    tampered = body.replace(b"Forged", b"Forgex")
    forged = requests.post(url, data=tampered, headers=headers, timeout=10)
    unsigned = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert forged.json()["error"] == "forbidden"
    assert CarrierEvent.objects.count() == 1
    assert Message.objects.filter(direction="inbound").count() == 1
