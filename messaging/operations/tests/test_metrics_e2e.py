"""`/metrics` end to end: daphne serves the API, a real Celery worker sends to the fake Twilio,
both write to one PROMETHEUS_MULTIPROC_DIR, and one scrape of daphne shows what both did."""

import asyncio

import pytest
import requests
import websockets
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import session_token_issue
from conftest import require_service, uses_postgres
from messaging.models import DeliveryStatus, Message, Status, WebhookDelivery
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.processes import DaphneProcess, WorkerProcess, wait_until
from messaging_platform.testing.webhook_receiver import WebhookReceiver
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-token-for-tests"
CONTACT = "+14155552671"
ENV = {
    "METRICS_TOKEN": TOKEN,
    "WEBHOOK_ALLOW_HTTP": "true",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "SWEEP_INTERVAL_SECONDS": "1",
    "WEBHOOK_SWEEP_INTERVAL_SECONDS": "0.5",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_RETRY_MAX_SECONDS": "1",
}


@pytest.fixture
def twilio_workspace(workspace, twilio_account):
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True)
    return workspace


@pytest.fixture
def platform(settings, tmp_path, fake_twilio, twilio_workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    env = {**ENV, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    daphne = DaphneProcess(env)
    settings.PUBLIC_BASE_URL = daphne.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    fake_twilio.callbacks = True
    daphne.start()
    worker = WorkerProcess(env).start()
    yield {"daphne": daphne, "worker": worker}
    worker.stop()
    daphne.stop()


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def test_one_scrape_shows_what_the_web_process_and_the_worker_did(platform, user, workspace):
    daphne = platform["daphne"]
    owner = {"Authorization": f"Bearer {session_token_issue(user=user).token}"}
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")
    with WebhookReceiver(fail_first=1) as receiver:
        registered = requests.post(
            f"{daphne.url}/api/ui/workspaces/{workspace.id}/webhooks",
            headers=owner,
            timeout=10,
            json={"url": receiver.url, "events": ["message.created"]},
        )
        assert registered.status_code == 201, registered.text
        response = requests.post(
            f"{daphne.url}/api/messages",
            timeout=10,
            json={"to": CONTACT, "body": "Counted"},
            headers={"Authorization": f"Bearer {key.key}"},
        )
        assert response.status_code == 201, response.text
        message_id = response.json()["id"]
        wait_until(
            lambda: Message.objects.filter(pk=message_id, status=Status.DELIVERED).exists(),
            timeout=30,
            what=f"delivery; worker log:\n{platform['worker'].log()}",
        )
        succeeded = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED)
        wait_until(succeeded.exists, timeout=30, what="the webhook delivered after one failed attempt")

    samples = scrape(daphne.url)
    # Accepted in daphne; sent and delivered in the worker (it applied the carrier's callbacks).
    assert value(samples, "mp_messages_total", status="accepted") == 1
    assert value(samples, "mp_messages_total", status="sent", carrier="twilio") == 1
    assert value(samples, "mp_messages_total", status="delivered", carrier="twilio") == 1
    assert value(samples, "mp_carrier_send_seconds_count", carrier="twilio") == 1
    assert value(samples, "mp_carrier_send_seconds_sum", carrier="twilio") > 0
    assert value(samples, "mp_time_to_delivered_seconds_count", carrier="twilio") == 1
    assert value(samples, "mp_webhook_attempts_total", outcome="failed") == 1
    assert value(samples, "mp_webhook_attempts_total", outcome="delivered") == 1
    assert value(samples, "mp_http_requests_total", method="POST", route="api/messages", status="201") == 1
    assert value(samples, "mp_http_request_seconds_count", method="POST", route="api/messages") == 1
    assert value(samples, "mp_tasks_total", state="SUCCESS") >= 1
    wait_until(
        lambda: value(scrape(daphne.url), "mp_tasks_total", task="messaging.tasks.sweep") >= 1,
        timeout=15,
        what="a sweep counted",
    )
    # Nothing waits now: the queue gauges are there and read zero.
    assert value(samples, "mp_queue_depth") == 0


def test_websocket_connections_are_counted_while_open(platform, user, workspace):
    daphne = platform["daphne"]
    token = session_token_issue(user=user).token

    async def connected_count() -> tuple[float, float]:
        async with websockets.connect(
            f"{daphne.ws_url}/ws/workspaces/{workspace.id}/",
            additional_headers={"Authorization": f"Bearer {token}"},
        ):
            during = value(await asyncio.to_thread(scrape, daphne.url), "mp_websocket_connections")
        await asyncio.sleep(0.3)
        after = value(await asyncio.to_thread(scrape, daphne.url), "mp_websocket_connections")
        return during, after

    assert asyncio.run(connected_count()) == (1, 0)
