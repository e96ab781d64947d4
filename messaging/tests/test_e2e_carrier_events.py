"""Status callbacks through the real components: the platform served over HTTP, real Celery worker
processes (with beat) on Redis and PostgreSQL applying the stored events in batches. A worker
SIGKILLed while callbacks keep coming, and Redis emptied, lose none of them."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from django.conf import settings

from conftest import require_service, uses_postgres
from messaging.models import CarrierEvent, Message, MessageEvent, Status
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.processes import WorkerProcess, wait_until
from messaging_platform.testing.twilio_params import new_sid, signature_headers, status_params

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"
WORKER_ENV = {
    "CARRIER_EVENT_TICK_SECONDS": "1",
    "CARRIER_EVENT_WAKE_PENDING_MS": "1000",
    "CARRIER_EVENT_RUNNER_LEASE_SECONDS": "3",
    "SWEEP_INTERVAL_SECONDS": "2",
}


@pytest.fixture
def platform(live_server, settings, twilio_account, twilio_workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the webhooks wake the real workers
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(dict(WORKER_ENV)).start()
        workers.append(worker)
        return worker

    def post(message: Message, status: str) -> int:
        url = f"{live_server.url}/webhooks/twilio/{twilio_workspace.id}/status?message_id={message.id}"
        params = status_params(message_sid=message.provider_sid, status=status)
        return requests.post(
            url, data=params, timeout=15, headers=signature_headers(url, params, twilio_account.auth_token)
        ).status_code

    yield {"start": start, "post": post, "workspace": twilio_workspace, "workers": workers}
    for worker in workers:
        worker.stop()


def sent_messages(workspace, n: int) -> list[Message]:
    return Message.objects.bulk_create(
        [
            Message(
                workspace=workspace,
                direction="outbound",
                status=Status.SENT,
                to_number=CONTACT,
                from_number=TWILIO_LONG_CODE,
                body=f"Hi {i}",
                provider_sid=new_sid("SM"),
            )
            for i in range(n)
        ]
    )


def delivered(messages: list[Message]) -> bool:
    done = Message.objects.filter(pk__in=[m.pk for m in messages], status=Status.DELIVERED)
    return done.count() == len(messages)


def test_callbacks_survive_a_worker_killed_mid_stream_and_redis_emptied(platform):
    messages = sent_messages(platform["workspace"], 60)
    first, during, last = messages[:20], messages[20:40], messages[40:]
    worker = platform["start"]()
    with ThreadPoolExecutor(8) as pool:  # a burst: gathered into a few batches
        assert set(pool.map(lambda m: platform["post"](m, "delivered"), first)) == {204}
    wait_until(lambda: delivered(first), timeout=60, what=f"the first burst; log:\n{worker.log()}")
    assert CarrierEvent.objects.values("processed_at").distinct().count() < len(first)

    answers: list[int] = []

    def keep_posting() -> None:
        for message in during:
            answers.append(platform["post"](message, "delivered"))
            time.sleep(0.05)

    poster = threading.Thread(target=keep_posting)
    poster.start()
    wait_until(lambda: len(answers) >= 5, timeout=30, what="callbacks during the kill")
    worker.kill()  # SIGKILL: a runner dies holding the wake-up, perhaps mid-batch
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the broker's queue and every key gone
    worker = platform["start"]()
    poster.join(timeout=60)
    assert answers == [204] * len(during)
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda m: platform["post"](m, "delivered"), last)) == {204}

    wait_until(lambda: delivered(messages), timeout=90, what=f"every callback applied; log:\n{worker.log()}")
    wait_until(
        lambda: not CarrierEvent.objects.filter(processed_at__isnull=True).exists(),
        timeout=30,
        what="every event marked applied",
    )
    assert CarrierEvent.objects.count() == 60
    assert MessageEvent.objects.filter(status=Status.DELIVERED).count() == 60  # each once
