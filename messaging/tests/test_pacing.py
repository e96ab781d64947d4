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
    redis.Redis.from_url(settings.REDIS_URL).delete(f"mp:pace:{key}", f"mp:pace:{key}:due")


def test_slots_of_one_sender_are_one_interval_apart_and_others_are_free(slots):
    first = pacing.reserve_slots(slots, 10.0, 5, 1.0)
    assert (first.first, first.count, first.spacing) == (pytest.approx(0, abs=0.02), 5, pytest.approx(0.1))
    # The next round's slots follow the first round's.
    assert pacing.reserve_slots(slots, 10.0, 1, 1.0).first == pytest.approx(0.5, abs=0.02)
    assert pacing.reserve_slots(slots + "-other", 10.0, 1, 1.0).first == pytest.approx(0, abs=0.02)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (0.5, 2.04),
        (1.0, 1.04),
        (1.02, 1 / 1.02 + 0.04 - 0.02 / 1.02),
        (1.5, 1 / 1.5),
        (3.0, 1 / 3),
        (100.0, 0.01),
    ],
)
def test_the_margin_is_added_only_where_the_carriers_burst_cannot_absorb_it(rate, expected, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    assert pacing.spacing(rate) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rate", "expected"), [(0.5, 0), (1.0, 0), (1.02, 0), (3.0, 2 / 3 - 0.04), (100.0, 0.99 - 0.04)]
)
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
    """A burst of `count` sends through the real script on a fake clock: the round reserves their
    slots, each send reaches its slot up to `late` seconds late, takes its turn (sleeping what it
    is told), and its request reaches the carrier up to the margin after that. Answers the
    carrier's bucket, the achieved rate and how many sends ran so far behind that the delivery
    engine would have put them back to the table (a wait beyond a short sleep and a spacing)."""
    rng = random.Random(seed)
    start = 1_800_000_000.0
    slots = pacing.reserve_slots(key, rate, count, 10 * count / rate, now=start)
    assert slots.count == count
    waiting = [(start + slots.first + n * slots.spacing, n) for n in range(count)]
    heapq.heapify(waiting)
    arrivals, far_behind = [], 0
    sleep_max = max(pacing.settings.SEND_PACING_SLEEP_MAX_SECONDS, pacing.spacing(rate))
    while waiting:
        at, n = heapq.heappop(waiting)
        if n >= 0:  # reaching its slot, late
            heapq.heappush(waiting, (at + rng.uniform(0, late), -1 - n))
            continue
        go, wait = pacing.take_turns(key, rate, 1, now=at)
        if go:
            arrivals.append(at + rng.uniform(0, pacing.settings.SEND_PACING_MARGIN_SECONDS))
            continue
        far_behind += wait > sleep_max
        heapq.heappush(waiting, (at + wait, n))
    bucket = Bucket(rate)
    arrivals.sort()
    for at in arrivals:
        bucket.take(at - start)
    assert len(arrivals) == count
    return bucket, (count - 1) / (arrivals[-1] - arrivals[0]), far_behind


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
    bucket, achieved, far_behind = simulate(slots, rate, count=int(20 * rate) + 1, late=0.2, seed=7)
    assert bucket.refused == 0
    assert achieved <= 1.01 * rate
    # Late sends delay the ones behind them (at 1/s) but waste no slot: the rate holds.
    assert achieved >= 0.95 * rate
    assert far_behind == 0
    if rate > 1:  # the burst absorbed the lateness: no loss at all
        assert achieved >= 0.99 * rate


def test_a_late_send_pushes_the_next_one_back_by_its_lateness(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    t = 1_800_000_000.0
    reserved = pacing.reserve_slots(slots, 1.0, 2, 2.0, now=t)
    assert (reserved.first, reserved.count, reserved.spacing) == (0, 2, pytest.approx(1.04))
    assert pacing.take_turns(slots, 1.0, 1, now=t + 0.15) == (1, pytest.approx(1.04))  # 150 ms late
    assert pacing.take_turns(slots, 1.0, 1, now=t + 1.04) == (0, pytest.approx(0.15))
    assert pacing.take_turns(slots, 1.0, 1, now=t + 1.19)[0] == 1
    # The next slot is a spacing after that send, not after the second slot.
    assert pacing.reserve_slots(slots, 1.0, 1, 2.0, now=t + 1.2).first == pytest.approx(1.03)


def test_a_late_send_within_the_carriers_burst_delays_nobody(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    t = 1_800_000_000.0
    reserved = pacing.reserve_slots(slots, 3.0, 3, 1.0, now=t)  # 3/s, bursts of 3: 0, 1/3, 2/3
    assert (reserved.first, reserved.count, reserved.spacing) == (0, 3, pytest.approx(1 / 3))
    assert pacing.take_turns(slots, 3.0, 1, now=t)[0] == 1
    assert pacing.take_turns(slots, 3.0, 1, now=t + 0.6)[0] == 1  # a quarter of a second late
    assert pacing.take_turns(slots, 3.0, 1, now=t + 2 / 3)[0] == 1  # 67 ms after it, on its slot
    # At 1/s (bursts of 1) the same would wait: see the test above.


def test_sends_whose_slots_came_together_go_as_far_as_the_bucket_holds(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    t = 1_800_000_000.0
    # Three sends of a 1/s sender all asking at once (a round that ran late): one goes.
    assert pacing.take_turns(slots, 1.0, 3, now=t) == (1, pytest.approx(1.04))
    assert pacing.take_turns(slots, 1.0, 2, now=t + 1.04) == (1, pytest.approx(1.04))


@pytest.mark.parametrize(
    ("rate", "status", "retry_after", "in_turn"),
    [
        (1.0, 429, 1.0, True),
        (0.5, 429, 2.0, True),
        (1.0, 429, None, True),
        (3.0, 429, 1.0, False),  # the backoff: a Retry-After of three spacings is not worth a thread
        (1.0, 503, 1.0, False),
        (1.0, 429, 30.0, False),
    ],
)
def test_a_send_refused_for_throughput_at_1_per_second_tries_again_at_its_senders_next_turn(
    rate, status, retry_after, in_turn, settings
):
    from numbers.providers.base import TransientProviderError

    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    error = TransientProviderError("Too Many Requests", status=status, retry_after=retry_after)
    go_at = pacing.retry_in_turn(pacing.PacedSender("+12025550100", rate), error)
    if in_turn:
        assert go_at == pytest.approx(time.time() + (retry_after or 0), abs=0.05)
    else:
        assert go_at is None


def test_an_idle_sender_sends_at_once(slots):
    assert pacing.reserve_slots(slots, 1.0, 1, 1.0).first == pytest.approx(0, abs=0.02)
    assert pacing.take_turns(slots, 1.0, 1)[0] == 1


@pytest.mark.django_db
def test_a_sender_paces_at_its_own_rate_or_its_types_default(workspace, settings):
    settings.SEND_RATE_MESSAGING_SERVICE = 7
    PhoneNumber.objects.create(
        workspace=workspace, phone_number="+18885550111", number_type=NumberType.TOLL_FREE
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550111", send_rate=42)
    PhoneNumber.objects.create(
        workspace=workspace, phone_number="+12025550112", number_type=NumberType.SHORT_CODE
    )
    rate = {
        number: pacing.sender_of(from_number=number, messaging_service_sid="").rate
        for number in ("+18885550111", "+12025550111", "+12025550112")
    }
    assert rate == {"+18885550111": 3.0, "+12025550111": 42.0, "+12025550112": 100.0}
    service = pacing.sender_of(from_number="", messaging_service_sid="MG1")
    assert (service.key, service.rate) == ("mg:MG1", 7)


def test_pacing_is_off_when_tasks_run_in_process(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert not pacing.pacing_enabled()


def test_a_send_that_left_late_after_its_turn_pushes_the_next_turn_back(slots, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    t = 1_800_000_000.0
    assert pacing.take_turns(slots, 1.0, 1, now=t)[0] == 1
    pacing.push_back(slots, 1.0, 0.2)  # its request reached the wire 200 ms after the turn
    go, wait = pacing.take_turns(slots, 1.0, 1, now=t + 1.04)
    assert (go, wait) == (0, pytest.approx(0.2))
    assert pacing.take_turns(slots, 1.0, 1, now=t + 1.24)[0] == 1
