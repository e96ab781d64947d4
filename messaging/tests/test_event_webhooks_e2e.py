"""Outbound webhooks end to end: daphne serves the API and the carrier's callbacks, a real Celery
worker (with its beat, which runs the retry sweep) delivers to a loopback receiver that fails the
first attempts of every event. Signatures are verified with the `standardwebhooks` library."""

from collections import Counter

import pytest
import requests
from standardwebhooks import Webhook

from accounts.services import session_token_issue
from conftest import require_service, uses_postgres
from messaging.models import DeliveryStatus, Message, Status, WebhookDelivery
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.processes import DaphneProcess, WorkerProcess, wait_until
from messaging_platform.testing.webhook_receiver import WebhookReceiver
from numbers.selectors import inbound_webhook_url
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"
FAIL_FIRST = 2
LOCAL_URLS = {"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOW_PRIVATE_URLS": "true"}


@pytest.fixture
def platform(settings, fake_twilio, twilio_account, user, twilio_workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    daphne = DaphneProcess(LOCAL_URLS)
    settings.PUBLIC_BASE_URL = daphne.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    fake_twilio.callbacks = True
    daphne.start()
    worker = WorkerProcess(
        {
            **LOCAL_URLS,
            "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
            "WEBHOOK_RETRY_MAX_SECONDS": "1",
            "WEBHOOK_SWEEP_INTERVAL_SECONDS": "0.5",
            "SWEEP_INTERVAL_SECONDS": "1",
        }
    ).start()
    yield {"daphne": daphne, "worker": worker, "fake": fake_twilio, "account": twilio_account}
    worker.stop()
    daphne.stop()


def test_every_event_arrives_exactly_once_after_failed_attempts(platform, user, workspace):
    daphne = platform["daphne"]
    owner = {"Authorization": f"Bearer {session_token_issue(user=user).token}"}
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")

    with WebhookReceiver(fail_first=FAIL_FIRST) as receiver:
        registered = requests.post(
            f"{daphne.url}/api/ui/workspaces/{workspace.id}/webhooks",
            headers=owner,
            timeout=10,
            json={
                "url": receiver.url,
                "events": ["message.created", "message.status_updated", "message.received"],
            },
        )
        assert registered.status_code == 201, registered.text
        secret = registered.json()["secret"]

        ids = []
        for n in range(3):
            response = requests.post(
                f"{daphne.url}/api/messages",
                timeout=10,
                json={"to": CONTACT, "body": f"Webhook {n}"},
                headers={"Authorization": f"Bearer {key.key}"},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        inbound = platform["fake"].post_inbound(
            inbound_webhook_url(workspace=workspace),
            account_sid=platform["account"].sid,
            from_number=CONTACT,
            to_number=TWILIO_LONG_CODE,
            body="Hello back",
        )
        assert inbound.status_code == 200

        def settled() -> bool:
            delivered = Message.objects.filter(pk__in=ids, status=Status.DELIVERED).count() == 3
            received = Message.objects.filter(direction="inbound").exists()
            deliveries = WebhookDelivery.objects.all()
            return (
                delivered
                and received
                and deliveries.count() >= 10
                and not deliveries.exclude(status=DeliveryStatus.SUCCEEDED).exists()
            )

        wait_until(
            settled,
            timeout=90,
            interval=0.5,
            what=f"every delivery to succeed; worker log:\n{platform['worker'].log()}",
        )
        received_all = list(receiver.received)

    # Each event: FAIL_FIRST failures, then exactly one success, all with the same id and
    # signed with the endpoint's secret.
    attempts = Counter(r.webhook_id for r in received_all)
    successes = Counter(r.webhook_id for r in received_all if r.status == 200)
    stored = set(WebhookDelivery.objects.values_list("event_id", flat=True))
    assert set(successes) == stored
    assert set(successes.values()) == {1}
    assert set(attempts.values()) == {FAIL_FIRST + 1}
    events = {}
    for got in received_all:
        payload = Webhook(secret).verify(got.body, got.headers)
        assert payload["id"] == got.webhook_id
        events[payload["id"]] = payload

    by_message: dict[str, list[dict]] = {}
    for event in sorted(events.values(), key=lambda e: e["timestamp"]):
        by_message.setdefault(event["data"]["id"], []).append(event)
    for message_id in ids:
        kinds = [e["type"] for e in by_message[message_id]]
        statuses = [
            e["data"]["status"] for e in by_message[message_id] if e["type"] == "message.status_updated"
        ]
        assert kinds[0] == "message.created"
        assert "delivered" in statuses and len(statuses) == len(set(statuses))
    [received_event] = [e for e in events.values() if e["type"] == "message.received"]
    assert received_event["data"]["body"] == "Hello back"
    assert all(d.attempts == FAIL_FIRST + 1 for d in WebhookDelivery.objects.all())
