"""The pacing slots in Redis, and the rates senders pace at."""

import heapq
import random
import time

import pytest
import redis
from django.conf import settings

from conftest import require_service
from messaging import pacing
from numbers.models import NumberType, PhoneNumber


@pytest.fixture
def slots():
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    key = f"test-{time.monotonic_ns()}"
    yield key
    redis.Redis.from_url(settings.REDIS_URL).delete(f"mp:pace:{key}", f"mp:pace:{key}:last")


def test_slots_of_one_sender_are_one_interval_apart_and_others_are_free(slots):
    waits = [pacing.reserve_slot(slots, 10.0) for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.02)
    for before, after in zip(waits, waits[1:], strict=False):
        assert after - before == pytest.approx(0.1, abs=0.02)
    assert pacing.reserve_slot(slots + "-other", 10.0) == pytest.approx(0, abs=0.02)


@pytest.mark.parametrize(("rate", "expected"), [
    (0.5, 2.04), (1.0, 1.04), (1.02, 1 / 1.02 + 0.04 - 0.02 / 1.02), (1.5, 1 / 1.5), (3.0, 1 / 3),
    (100.0, 0.01),
])
def test_the_margin_is_added_only_where_the_carriers_burst_cannot_absorb_it(rate, expected, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    assert pacing.spacing(rate) == pytest.approx(expected)


@pytest.mark.parametrize(("rate", "expected"), [(0.5, 0), (1.0, 0), (1.02, 0), (3.0, 2 / 3 - 0.04),
                                               (100.0, 0.99 - 0.04)])
def test_a_send_may_follow_a_late_one_sooner_only_within_the_carriers_burst(rate, expected, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    assert pacing.tolerance(rate) == pytest.approx(expected)


@pytest.mark.parametrize("margin", [0.01, 0.04, 0.05])
@pytest.mark.parametrize("rate", [0.2, 1.0, 1.01, 1.03, 1.1, 2.0, 3.0, 10.0, 100.0, 500.0])
def test_every_rate_is_paced_within_five_percent(rate, margin, settings):
    settings.SEND_PACING_MARGIN_SECONDS = margin
    assert 0.95 * rate <= 1 / pacing.spacing(rate) <= rate


class Bucket:
    """The carrier's limit, as the fake carrier enforces it: `rate`/s, bursts of max(1, rate)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.burst = self.tokens = max(1.0, rate)
        self.at = 0.0
        self.refused = 0

    def take(self, at: float) -> None:
        assert at >= self.at
        self.tokens = min(self.burst, self.tokens + (at - self.at) * self.rate)
        self.at = at
        if self.tokens >= 1 - 1e-9:
            self.tokens -= 1
        else:
            self.refused += 1


def simulate(key: str, rate: float, *, count: int, late: float, seed: int = 1) -> tuple[Bucket, float, int]:
    """A burst of `count` sends through the real script on a fake clock: each worker reaches its
    slot up to `late` seconds late, takes its turn (sleeping what it is told), and its request
    reaches the carrier up to the margin after that. Answers the carrier's bucket, the achieved
    rate and how many sends were handed a fresh slot."""
    rng = random.Random(seed)
    start = 1_800_000_000.0
    waiting = [(start + pacing.reserve_slot(key, rate, now=start), n) for n in range(count)]
    heapq.heapify(waiting)
    arrivals, fresh = [], 0
    while waiting:
        at, n = heapq.heappop(waiting)
        if n >= 0:  # reaching its slot (or a fresh one), late
            heapq.heappush(waiting, (at + rng.uniform(0, late), -1 - n))
            continue
        kind, wait = pacing.take_turn(key, rate, now=at)
        if kind == "go":
            arrivals.append(at + rng.uniform(0, pacing.settings.SEND_PACING_MARGIN_SECONDS))
        elif kind == "wait":
            heapq.heappush(waiting, (at + wait, n))
        else:
            fresh += 1
            heapq.heappush(waiting, (at + wait, -1 - n))
    bucket = Bucket(rate)
    arrivals.sort()
    for at in arrivals:
        bucket.take(at - start)
    assert len(arrivals) == count
    return bucket, (count - 1) / (arrivals[-1] - arrivals[0]), fresh


@pytest.mark.parametrize("rate", [1.0, 1.02, 3.0, 100.0])
def test_sends_reaching_the_carrier_late_by_up_to_the_margin_are_never_refused(slots, rate, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    bucket, achieved, _ = simulate(slots, rate, count=int(20 * rate) + 1, late=0.0)
    assert bucket.refused == 0
    assert 0.95 * rate <= achieved <= 1.01 * rate


@pytest.mark.parametrize("rate", [1.0, 3.0, 100.0])
def test_workers_reaching_their_slots_late_never_crowd_the_next_send(slots, rate, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    settings.SEND_PACING_SLEEP_MAX_SECONDS = 0.2
    bucket, achieved, fresh = simulate(slots, rate, count=int(20 * rate) + 1, late=0.2, seed=7)
    assert bucket.refused == 0
    assert achieved <= 1.01 * rate
    # Late sends delay the ones behind them (at 1/s) but waste no slot: the rate holds.
    assert achieved >= 0.95 * rate
    assert fresh == 0
    if rate > 1:  # the burst absorbed the lateness: no loss at all
        assert achieved >= 0.99 * rate


def test_a_late_send_pushes_the_next_one_back_by_its_lateness(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    settings.SEND_PACING_SLEEP_MAX_SECONDS = 0.2
    t = 1_800_000_000.0
    assert pacing.reserve_slot(slots, 1.0, now=t) == 0
    assert pacing.reserve_slot(slots, 1.0, now=t) == pytest.approx(1.04)
    assert pacing.take_turn(slots, 1.0, now=t + 0.15) == ("go", 0)  # the first, 150 ms late
    assert pacing.take_turn(slots, 1.0, now=t + 1.04) == ("wait", pytest.approx(0.15))
    assert pacing.take_turn(slots, 1.0, now=t + 1.19) == ("go", 0)
    # The next slot is a spacing after that send, not after the second slot.
    assert pacing.reserve_slot(slots, 1.0, now=t + 1.2) == pytest.approx(1.03)


def test_a_late_send_within_the_carriers_burst_delays_nobody(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    t = 1_800_000_000.0
    for n in range(3):  # at 3/s (bursts of 3): slots at 0, 1/3, 2/3
        assert pacing.reserve_slot(slots, 3.0, now=t) == pytest.approx(n / 3)
    assert pacing.take_turn(slots, 3.0, now=t) == ("go", 0)
    assert pacing.take_turn(slots, 3.0, now=t + 0.6) == ("go", 0)  # a quarter of a second late
    assert pacing.take_turn(slots, 3.0, now=t + 2 / 3) == ("go", 0)  # 67 ms after it, on its slot
    # At 1/s (bursts of 1) the same would wait: see the test above.


def test_a_send_far_behind_the_last_one_gets_a_fresh_slot_at_the_end(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    settings.SEND_PACING_SLEEP_MAX_SECONDS = 0.2
    t = 1_800_000_000.0
    for _ in range(3):  # slots at 0, 1.04, 2.08; the next free one at 3.12
        pacing.reserve_slot(slots, 1.0, now=t)
    assert pacing.take_turn(slots, 1.0, now=t + 1.5) == ("go", 0)  # one and a half seconds late
    # The second one would wait longer than a spacing: it gets the slot after the third instead.
    assert pacing.take_turn(slots, 1.0, now=t + 1.04) == ("slot", pytest.approx(2.08))
    assert pacing.take_turn(slots, 1.0, now=t + 2.08) == ("wait", pytest.approx(0.46))
    assert pacing.take_turn(slots, 1.0, now=t + 2.54) == ("go", 0)
    assert pacing.reserve_slot(slots, 1.0, now=t + 2.6) == pytest.approx(4.16 - 2.6)


@pytest.mark.parametrize(("rate", "status", "retry_after", "in_turn"), [
    (1.0, 429, 1.0, True), (0.5, 429, 2.0, True), (1.0, 429, None, True),
    (3.0, 429, 1.0, False),  # the backoff: a Retry-After of three spacings is not worth a thread
    (1.0, 503, 1.0, False), (1.0, 429, 30.0, False),
])
def test_a_send_refused_for_throughput_at_1_per_second_tries_again_at_its_senders_next_turn(
        rate, status, retry_after, in_turn, settings):
    from numbers.providers.base import TransientProviderError

    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    error = TransientProviderError("Too Many Requests", status=status, retry_after=retry_after)
    go_at = pacing.retry_in_turn(pacing.PacedSender("+12025550100", rate), error)
    if in_turn:
        assert go_at == pytest.approx(time.time() + (retry_after or 0), abs=0.05)
    else:
        assert go_at is None


def test_an_idle_sender_sends_at_once(slots):
    assert pacing.reserve_slot(slots, 1.0) == pytest.approx(0, abs=0.02)
    assert pacing.take_turn(slots, 1.0) == ("go", 0)


@pytest.mark.django_db
def test_a_sender_paces_at_its_own_rate_or_its_types_default(workspace, settings):
    settings.SEND_RATE_MESSAGING_SERVICE = 7
    PhoneNumber.objects.create(workspace=workspace, phone_number="+18885550111",
                               number_type=NumberType.TOLL_FREE)
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550111", send_rate=42)
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550112",
                               number_type=NumberType.SHORT_CODE)
    rate = {number: pacing.sender_of(from_number=number, messaging_service_sid="").rate
            for number in ("+18885550111", "+12025550111", "+12025550112")}
    assert rate == {"+18885550111": 3.0, "+12025550111": 42.0, "+12025550112": 100.0}
    service = pacing.sender_of(from_number="", messaging_service_sid="MG1")
    assert (service.key, service.rate) == ("mg:MG1", 7)


def test_pacing_is_off_when_tasks_run_in_process(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert not pacing.pacing_enabled()


@pytest.mark.django_db
def test_a_claimed_message_whose_turn_is_far_goes_back_to_wait_for_its_fresh_slot(
        workspace, monkeypatch, django_capture_on_commit_callbacks):
    from messaging.delivery import message_wait_for_fresh_slot
    from messaging.lifecycle import message_claim
    from messaging.models import Message, MessageEvent, Status

    enqueued = []
    monkeypatch.setattr(pacing, "enqueue_send", lambda *args, **kwargs: enqueued.append((args, kwargs)))
    message = Message.objects.create(workspace=workspace, direction="outbound", status=Status.QUEUED,
                                     to_number="+14155552671", from_number="+12015550123", body="x")
    message = message_claim(message_id=message.id)
    slot = time.time() + 30
    with django_capture_on_commit_callbacks(execute=True):
        message_wait_for_fresh_slot(message=message, not_before=slot)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.claimed_at) == (Status.QUEUED, 0, None)
    assert message.next_attempt_at.timestamp() == pytest.approx(slot)  # the sweep leaves it be
    assert MessageEvent.objects.filter(message=message).latest("created_at").status == Status.QUEUED
    [(args, kwargs)] = enqueued
    assert args == (message.id,) and kwargs["not_before"] == slot
    assert 29 < kwargs["countdown"] < 30


@pytest.mark.django_db
def test_a_redis_error_in_pacing_after_the_claim_puts_the_message_back_to_queued_at_once(
        our_number, settings, monkeypatch, django_capture_on_commit_callbacks):
    from messaging import delivery
    from messaging.models import Message, MessageEvent, Status

    settings.SEND_PACING = True
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: every call fails
    woken = []
    monkeypatch.setattr(delivery, "enqueue_send", lambda mid, countdown=None: woken.append((mid, countdown)))
    message = Message.objects.create(workspace=our_number.workspace, direction="outbound",
                                     status=Status.QUEUED, to_number="+14155552671",
                                     from_number=our_number.phone_number, body="x")
    with django_capture_on_commit_callbacks(execute=True):
        # A slot already held: the claim comes first, then the turn in Redis fails.
        delivery.message_deliver(message_id=message.id, not_before=time.time())
    message.refresh_from_db()
    assert (message.status, message.attempts, message.claimed_at) == (Status.QUEUED, 0, None)
    assert 0 < (message.next_attempt_at.timestamp() - time.time()) <= delivery.PACING_ERROR_RETRY_SECONDS
    history = list(MessageEvent.objects.filter(message=message).values_list("status", flat=True))
    assert history == [Status.SENDING, Status.QUEUED]
    assert woken == [(message.id, delivery.PACING_ERROR_RETRY_SECONDS)]
