"""End to end over SMPP on the real components: the platform served over HTTP, the bind process
(`manage.py smpp_binds`) and a Celery worker as real processes on PostgreSQL and Redis, the fake
SMSC over loopback sending receipts."""

import pytest
import requests

from conftest import require_service, uses_postgres
from messaging.models import Message, MessageEvent, Status
from messaging_platform.celery import app as celery_app
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SENDER, SMPP_SYSTEM_ID
from messaging_platform.testing.processes import BindProcess, WorkerProcess, wait_until
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"
FAST = {
    "SMPP_POLL_SECONDS": "0.05",
    "SMPP_RECONNECT_MIN_SECONDS": "0.2",
    "SMPP_RECONNECT_MAX_SECONDS": "1",
    "SMPP_RESPONSE_TIMEOUT_SECONDS": "3",
    "SEND_RETRY_BASE_SECONDS": "0.5",
    "SEND_RETRY_MAX_SECONDS": "1",
    "SEND_MAX_ATTEMPTS": "40",
    "SWEEP_INTERVAL_SECONDS": "1",
    "QUEUED_STALE_SECONDS": "4",
    "SEND_LEASE_SECONDS": "8",
    "SEND_RATE_LONG_CODE": "1000",
}  # the engine paces each sender: not what is tested here


@pytest.fixture
def platform(request, live_server, settings, fake_smsc, user, workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    settings.PUBLIC_BASE_URL = live_server.url
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="smpp",
        auth_token=SMPP_PASSWORD,
        settings={
            "host": "127.0.0.1",
            "port": fake_smsc.port,
            "system_id": SMPP_SYSTEM_ID,
            "uncertain_submits": getattr(request, "param", "resend"),
        },
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=SMPP_SENDER, is_default=True)
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not celery_app.conf.task_always_eager
    running = {
        "url": live_server.url,
        "key": key.key,
        "smsc": fake_smsc,
        "binds": BindProcess(FAST).start(),
        "worker": WorkerProcess(FAST, concurrency=4).start(),
    }
    yield running  # a test may replace the bind process: stop whichever runs at the end
    for name in ("binds", "worker"):
        running[name].stop()


def post_batch(platform, bodies: list[str]) -> list[str]:
    response = requests.post(
        f"{platform['url']}/api/messages/batch",
        json={"messages": [{"to": CONTACT, "body": body} for body in bodies]},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=30,
    )
    assert response.status_code in (200, 201, 207), response.text
    return [item["message"]["id"] for item in response.json()["data"]]


def post(platform, body: str) -> str:
    response = requests.post(
        f"{platform['url']}/api/messages",
        json={"to": CONTACT, "body": body},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def all_delivered(ids) -> bool:
    return Message.objects.filter(pk__in=ids, status=Status.DELIVERED).count() == len(ids)


def test_sent_then_delivered_by_receipt_through_the_bind_process(platform):
    message_id = post(platform, "End to end over SMPP")
    wait_until(
        lambda: all_delivered([message_id]),
        timeout=60,
        what=f"delivery; bind log:\n{platform['binds'].log()}\nworker log:\n{platform['worker'].log()}",
    )
    [part] = platform["smsc"].parts
    assert part.text == "End to end over SMPP" and part.destination_addr == CONTACT[1:]
    statuses = list(MessageEvent.objects.filter(message_id=message_id).values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sent", "delivered"]
    response = requests.get(
        f"{platform['url']}/api/messages/{message_id}",
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=10,
    )
    assert response.json()["status"] == "delivered"


def test_bind_dropped_mid_burst_nothing_lost_nothing_avoidably_twice(platform):
    smsc = platform["smsc"]
    assert smsc.wait_for_binds(timeout=30), platform["binds"].log()
    smsc.drop_after_submits(12)
    ids = [post(platform, f"Burst {n}") for n in range(40)]
    wait_until(
        lambda: all_delivered(ids),
        timeout=90,
        what=f"every message delivered; bind log:\n{platform['binds'].log()}",
    )
    texts = smsc.texts_by_destination()
    assert {text for _, text in texts} == {f"Burst {n}" for n in range(40)}
    in_doubt = set(
        MessageEvent.objects.filter(message_id__in=ids, error_code="smpp_bind_lost").values_list(
            "message__body", flat=True
        )
    )
    assert {text for (_, text), count in texts.items() if count > 1} <= in_doubt
    assert len(smsc.binds) >= 2


def test_bind_process_killed_and_restarted_resends_only_what_was_in_doubt(platform):
    smsc = platform["smsc"]
    assert smsc.wait_for_binds(timeout=30), platform["binds"].log()
    smsc.latency = 0.2  # answers are slow, so the kill lands with submits outstanding
    ids = [post(platform, f"Crash {n}") for n in range(30)]
    wait_until(lambda: len(smsc.parts) >= 5, timeout=30, what="the first submits")
    platform["binds"].kill()
    # In doubt: claimed by the killed process and not written back as sent (submitted, perhaps
    # answered, but its outcome lost with the process).
    in_doubt = set(Message.objects.filter(pk__in=ids, status="sending").values_list("body", flat=True))
    smsc.latency = 0
    platform["binds"] = BindProcess(FAST).start()
    wait_until(
        lambda: all_delivered(ids),
        timeout=120,
        what=f"every message delivered; bind log:\n{platform['binds'].log()}",
    )
    texts = smsc.texts_by_destination()
    assert {text for _, text in texts} == {f"Crash {n}" for n in range(30)}
    # At least once: only what was in doubt at the kill may have gone twice, and only once more.
    assert {text for (_, text), count in texts.items() if count > 1} <= in_doubt
    assert max(texts.values()) <= 2


def test_a_batch_goes_out_in_rounds_of_many_messages(platform):
    """The bind process claims due messages many in one statement (the engine's rounds): a batch
    queued while no bind is up goes out in a few claims, each message once."""
    smsc = platform["smsc"]
    platform["binds"].stop()
    ids = post_batch(platform, [f"Round {n}" for n in range(120)])
    platform["binds"] = BindProcess(FAST).start()
    wait_until(
        lambda: all_delivered(ids),
        timeout=90,
        what=f"every message delivered; bind log:\n{platform['binds'].log()}",
    )
    claims = set(Message.objects.filter(pk__in=ids).values_list("claimed_at", flat=True))
    assert len(claims) <= 12  # rounds of up to SMPP_BATCH_SIZE, not one claim a message
    assert not smsc.duplicate_parts() and len(smsc.parts) == 120


@pytest.mark.parametrize("platform", ["fail"], indirect=True)
def test_bind_process_killed_mid_batch_at_most_once_sends_nothing_twice(platform):
    """At-most-once account: after a kill with submits outstanding, nothing is lost (every
    message ends delivered, or failed as of unknown outcome if it was in doubt) and nothing
    reaches the SMSC twice."""
    smsc = platform["smsc"]
    assert smsc.wait_for_binds(timeout=30), platform["binds"].log()
    smsc.latency = 0.2
    ids = post_batch(platform, [f"Once {n}" for n in range(30)])
    wait_until(lambda: len(smsc.parts) >= 5, timeout=30, what="the first submits")
    platform["binds"].kill()
    in_doubt = set(Message.objects.filter(pk__in=ids, status="sending").values_list("pk", flat=True))
    smsc.latency = 0
    platform["binds"] = BindProcess(FAST).start()
    wait_until(
        lambda: Message.objects.filter(pk__in=ids, status__in=["delivered", "failed"]).count() == len(ids),
        timeout=120,
        what=f"every message final; bind log:\n{platform['binds'].log()}",
    )
    texts = smsc.texts_by_destination()
    assert max(texts.values()) == 1  # never twice
    failed = {m.pk: m for m in Message.objects.filter(pk__in=ids, status="failed")}
    assert set(failed) <= in_doubt
    assert {m.error_code for m in failed.values()} <= {"smpp_unknown"}
    delivered = Message.objects.filter(pk__in=ids, status="delivered").values_list("body", flat=True)
    assert all(texts[(CONTACT[1:], body)] == 1 for body in delivered)
