"""Failover end to end on the real components: the platform over HTTP, a real Celery worker on
PostgreSQL and Redis, a route whose account is Twilio (the fake, refusing or unreachable) with a
Telnyx fallback (the fake Telnyx). A message Twilio definitely did not take goes out once through
Telnyx, from Telnyx's number, and its history shows the failover; a timeout does not fail over."""

import time

import pytest
import requests

from conftest import require_service, uses_postgres
from messaging.models import Message, MessageEvent, Status
from messaging_platform.celery import app as celery_app
from messaging_platform.testing.fixtures import TELNYX_NUMBER, TWILIO_LONG_CODE
from messaging_platform.testing.processes import WorkerProcess, free_port, wait_until
from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"
FAST = {
    "SEND_RETRY_BASE_SECONDS": "0.5",
    "SEND_RETRY_MAX_SECONDS": "1",
    "SEND_MAX_ATTEMPTS": "40",
    "SWEEP_INTERVAL_SECONDS": "1",
    "QUEUED_STALE_SECONDS": "4",
    "SEND_LEASE_SECONDS": "8",
    "SEND_RATE_LONG_CODE": "1000",
    "TWILIO_HTTP_TIMEOUT": "1",
}


@pytest.fixture
def platform(
    live_server, settings, fake_twilio, twilio_account, fake_telnyx, telnyx_account, user, workspace
):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    settings.PUBLIC_BASE_URL = live_server.url
    twilio = ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        name="US",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    telnyx = ProviderAccount.objects.create(
        workspace=workspace,
        provider="telnyx",
        name="Backup",
        is_primary=False,
        auth_token=telnyx_account.api_key,
        settings={
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number=TELNYX_NUMBER, account=telnyx)
    CarrierRoute.objects.create(workspace=workspace, prefix="+1", account=twilio, fallback_account=telnyx)
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not celery_app.conf.task_always_eager
    running = {
        "url": live_server.url,
        "key": key.key,
        "twilio": fake_twilio,
        "telnyx": fake_telnyx,
        "accounts": (twilio, telnyx),
        "workers": [],
    }
    yield running
    for worker in running["workers"]:
        worker.stop()


def start_worker(platform) -> WorkerProcess:
    worker = WorkerProcess(
        {**FAST, "TELNYX_API_BASE_URL": platform["telnyx"].base_url}, concurrency=4
    ).start()
    platform["workers"].append(worker)
    return worker


def post(platform) -> dict:
    response = requests.post(
        f"{platform['url']}/api/messages",
        json={"to": CONTACT, "body": "Through whichever carrier takes it"},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def history(message_id: str) -> list[tuple[str, str]]:
    return list(
        MessageEvent.objects.filter(message_id=message_id)
        .order_by("created_at", "pk")
        .values_list("status", "source")
    )


@pytest.mark.parametrize("refusal", ["5xx", "connection refused"])
def test_a_refusal_before_acceptance_goes_out_once_through_the_fallback(platform, settings, refusal):
    twilio_account, telnyx_account = platform["accounts"]
    if refusal == "5xx":
        platform["twilio"].down = True  # 503 to everything: no message is created
    else:
        settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    worker = start_worker(platform)
    answer = post(platform)
    assert answer["from"] == TWILIO_LONG_CODE  # the route's account chose the sender
    wait_until(
        lambda: Message.objects.get(pk=answer["id"]).status == Status.SENT,
        timeout=60,
        what=f"sent through the fallback; worker log:\n{worker.log()}",
    )
    [sent] = platform["telnyx"].messages
    assert (sent.to, sent.from_number) == (CONTACT, TELNYX_NUMBER)
    message = Message.objects.get(pk=answer["id"])
    assert (message.carrier_account, message.fallback_account) == (telnyx_account, None)
    assert (message.from_number, message.provider_sid) == (TELNYX_NUMBER, sent.id)
    assert history(message.id) == [
        ("queued", "api"),
        ("sending", "worker"),
        ("queued", "failover"),
        ("sending", "worker"),
        ("sent", "worker"),
    ]
    failover = MessageEvent.objects.get(message=message, source="failover")
    assert telnyx_account.uid in failover.error_message
    assert platform["twilio"].messages == []
    time.sleep(2)  # time for a wrong second send to show
    assert len(platform["telnyx"].messages) == 1
    response = requests.get(
        f"{platform['url']}/api/messages/{message.id}",
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert (response.json()["from"], response.json()["status"]) == (TELNYX_NUMBER, "sent")


def test_a_timeout_after_the_request_was_written_does_not_fail_over(platform):
    twilio_account, _ = platform["accounts"]
    platform["twilio"].slow_seconds = 3  # longer than the worker's 1 s timeout
    platform["twilio"].slow = True
    worker = start_worker(platform)
    answer = post(platform)
    # The carrier took it but answered too late: the send is in doubt, so it is neither sent
    # again nor failed over; after the lease the sweep looks it up at the carrier (answering in
    # time again by then) and finds it there.
    wait_until(
        lambda: len(platform["twilio"].messages) == 1,
        timeout=30,
        what=f"the slow carrier taking it; worker log:\n{worker.log()}",
    )
    time.sleep(2)  # the worker's answer has timed out by now
    assert Message.objects.get(pk=answer["id"]).status == Status.SENDING
    platform["twilio"].slow = False
    wait_until(
        lambda: Message.objects.get(pk=answer["id"]).status in (Status.SENT, Status.DELIVERED),
        timeout=60,
        what=f"found at Twilio by the sweep; worker log:\n{worker.log()}",
    )
    assert len(platform["twilio"].messages) == 1
    message = Message.objects.get(pk=answer["id"])
    assert message.carrier_account == twilio_account
    assert message.from_number == TWILIO_LONG_CODE
    assert platform["telnyx"].messages == []
    assert not MessageEvent.objects.filter(message=message, source="failover").exists()
