"""End to end on the real components: the platform served over HTTP, a real Celery worker
process on Redis and PostgreSQL, and the fake Twilio over loopback posting signed callbacks."""

import pytest
import requests
from django.conf import settings

from conftest import require_service, uses_postgres
from messaging.models import Message, MessageEvent, Status
from messaging_platform.celery import app as celery_app
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.processes import WorkerProcess, wait_until
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"


@pytest.fixture
def platform(live_server, settings, fake_twilio, twilio_account, user, workspace):
    """A workspace on the fake Twilio, reachable over HTTP, with a non-eager Celery producer."""
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    settings.PUBLIC_BASE_URL = live_server.url
    fake_twilio.callbacks = True
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True)
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")
    # Celery reads its settings from Django's lazily: from here on, tasks go to the broker.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not celery_app.conf.task_always_eager
    return {"url": live_server.url, "key": key.key, "fake": fake_twilio}


@pytest.fixture
def start_worker(platform):
    workers: list[WorkerProcess] = []

    def start(**env) -> WorkerProcess:
        defaults = {
            "SEND_RETRY_BASE_SECONDS": "0.5",
            "SEND_RETRY_MAX_SECONDS": "2",
            "SEND_MAX_ATTEMPTS": "40",
            "SWEEP_INTERVAL_SECONDS": "1",
            "QUEUED_STALE_SECONDS": "4",
            "SEND_LEASE_SECONDS": "8",
            "CELERY_VISIBILITY_TIMEOUT": "10",
            # Pacing stays on, but these tests are about crashes, not about carrier limits.
            "SEND_RATE_LONG_CODE": "1000",
        }
        worker = WorkerProcess({**defaults, **env}).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def post_message(platform, body: str) -> str:
    response = requests.post(
        f"{platform['url']}/api/messages",
        json={"to": CONTACT, "body": body},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def all_delivered(ids: list[str]) -> bool:
    return Message.objects.filter(pk__in=ids, status=Status.DELIVERED).count() == len(ids)


def test_a_message_posted_over_http_is_delivered_through_a_real_worker(platform, start_worker):
    worker = start_worker()
    message_id = post_message(platform, "End to end")
    wait_until(lambda: all_delivered([message_id]), timeout=30, what=f"delivery; worker log:\n{worker.log()}")
    message = Message.objects.get(pk=message_id)
    [sent] = platform["fake"].messages
    assert message.provider_sid == sent.sid
    statuses = list(MessageEvent.objects.filter(message=message).values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sent", "delivered"]
    response = requests.get(
        f"{platform['url']}/api/messages/{message_id}",
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.json()["status"] == "delivered"


def test_a_worker_killed_mid_burst_loses_nothing_and_sends_nothing_twice(platform, start_worker):
    fake = platform["fake"]
    fake.latency = 0.3  # the carrier is slow, so the kill lands in the middle of sends
    worker = start_worker()
    ids = [post_message(platform, f"Burst {n}") for n in range(20)]
    wait_until(lambda: len(fake.messages) >= 3, timeout=30, what="the first sends")
    worker.kill()
    start_worker()
    wait_until(lambda: all_delivered(ids), timeout=90, what="every message delivered")
    assert len(fake.messages) == 20
    assert fake.duplicate_sends() == {}


def test_a_carrier_outage_ends_in_delivery_after_recovery(platform, start_worker):
    fake = platform["fake"]
    fake.down = True
    start_worker()
    ids = [post_message(platform, f"Outage {n}") for n in range(10)]
    wait_until(
        lambda: Message.objects.filter(pk__in=ids, attempts__gte=2).count() == 10,
        timeout=30,
        what="retries during the outage",
    )
    failed = Message.objects.filter(pk__in=ids, status=Status.FAILED)
    assert list(failed.values_list("error_message", flat=True)) == []
    fake.down = False
    wait_until(lambda: all_delivered(ids), timeout=60, what="delivery after the outage")
    assert len(fake.messages) == 10
    assert fake.duplicate_sends() == {}
    assert settings.CELERY_TASK_ACKS_LATE


def test_a_worker_killed_mid_broadcast_loses_nothing_and_sends_nothing_twice(
    platform, start_worker, live_server, user, workspace
):
    from accounts.services import session_token_issue
    from messaging.models import Broadcast, Contact

    Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, phone_number=f"+1415555{n:04d}", name=f"P{n}")
            for n in range(4000, 4150)
        ]
    )
    fake = platform["fake"]
    fake.latency = 0.05
    env = {"BROADCAST_BATCH_CONTACTS": "10", "BROADCAST_STALL_SECONDS": "3"}
    worker = start_worker(**env)
    token = session_token_issue(user=user).token
    response = requests.post(
        f"{live_server.url}/api/ui/workspaces/{workspace.id}/broadcasts",
        json={"name": "Burst", "body": "Hi {{name}}", "audience": {"all": True}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    broadcast_id = response.json()["id"]
    wait_until(lambda: len(fake.messages) >= 5, timeout=30, what="the first sends")
    worker.kill()
    start_worker(**env)
    wait_until(
        lambda: Broadcast.objects.get(pk=broadcast_id).status == "completed",
        timeout=120,
        what="the broadcast completed",
    )
    sent = Message.objects.filter(broadcast_id=broadcast_id)
    assert sent.count() == 150
    assert sent.values("to_number").distinct().count() == 150
    assert set(sent.values_list("status", flat=True)) == {Status.DELIVERED}
    assert len(fake.messages) == 150
    assert fake.duplicate_sends() == {}
