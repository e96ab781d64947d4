"""Per-sender pacing across real worker processes, against a fake carrier enforcing the limits."""

import pytest
import requests

from messaging.models import Message, Status
from messaging.tests.test_e2e_worker import CONTACT, platform, start_worker  # noqa: F401
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE, TWILIO_TOLL_FREE
from messaging_platform.testing.processes import wait_until
from numbers.models import NumberType, PhoneNumber

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RATE = 5.0


def post_batch(platform, messages: list[dict]) -> list[str]:  # noqa: F811
    response = requests.post(
        f"{platform['url']}/api/messages/batch",
        json={"messages": messages},
        headers={"Authorization": f"Bearer {platform['key']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [item["message"]["id"] for item in response.json()["data"]]


def test_two_worker_processes_together_keep_a_sender_to_its_rate(platform, start_worker):  # noqa: F811
    fake = platform["fake"]
    PhoneNumber.objects.filter(phone_number=TWILIO_LONG_CODE).update(send_rate=RATE)
    fake.set_rate_limit(TWILIO_LONG_CODE, RATE)  # a token bucket: RATE/s, bursts of RATE
    start_worker(SEND_RATE_LONG_CODE="1")
    start_worker(SEND_RATE_LONG_CODE="1")
    # Warm the workers up first: a cold thread's first send (connections, imports) runs late and
    # the sends behind it catch up at once, which a loaded test machine turns into a burst.
    warm = post_batch(platform, [{"to": CONTACT, "body": f"Warm {n}"} for n in range(4)])
    wait_until(
        lambda: Message.objects.filter(pk__in=warm, status=Status.DELIVERED).count() == 4,
        timeout=30,
        what="the warm-up messages",
    )
    fake.reset()
    ids = post_batch(platform, [{"to": CONTACT, "body": f"Paced {n}"} for n in range(30)])
    wait_until(
        lambda: Message.objects.filter(pk__in=ids, status=Status.DELIVERED).count() == 30,
        timeout=60,
        what="every paced message delivered",
    )
    assert fake.rate_limited == {}  # the carrier never had to refuse one for throughput
    # At 5/s the carrier's burst absorbs the margin, so slots are 1/RATE apart. Two processes pacing
    # each on its own would reach twice the rate; the 10% allowance is for the first sends, slower
    # while threads open their connections (so the later ones seem closer together), and for a
    # busy test machine. bench/pacing.py measures the rate over longer runs.
    times = sorted(m.received_monotonic for m in fake.messages)
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    achieved = 1 / gaps[len(gaps) // 2]
    assert RATE * 0.85 <= achieved <= RATE * 1.1, achieved
    assert fake.duplicate_sends() == {}


def test_a_burst_to_one_sender_does_not_delay_another(platform, start_worker):  # noqa: F811
    fake = platform["fake"]
    PhoneNumber.objects.filter(phone_number=TWILIO_LONG_CODE).update(send_rate=2)
    PhoneNumber.objects.create(
        workspace_id=Message._meta.get_field("workspace").related_model.objects.get().pk,
        phone_number=TWILIO_TOLL_FREE,
        number_type=NumberType.TOLL_FREE,
    )
    start_worker(SEND_RATE_LONG_CODE="1")
    slow = post_batch(platform, [{"to": CONTACT, "body": f"Slow {n}"} for n in range(20)])
    [fast] = post_batch(platform, [{"to": CONTACT, "body": "Fast", "from": TWILIO_TOLL_FREE}])
    wait_until(
        lambda: Message.objects.filter(pk=fast, status=Status.DELIVERED).exists(),
        timeout=15,
        what="the other sender's message",
    )
    # The slow sender needs about 10 s for its 20; the other one did not wait behind them.
    assert Message.objects.filter(pk__in=slow, status=Status.QUEUED).count() >= 10
    assert fake.rate_limited == {}
