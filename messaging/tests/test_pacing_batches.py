"""Pacing for the delivery engine's rounds: a sender's slots reserved n at a time and its turns
taken for several sends at once, in one Redis trip each, on a fake clock against the carrier's
token bucket."""

import heapq
import itertools
import random
import time

import pytest
import redis
from django.conf import settings

from conftest import require_service
from messaging import pacing
from messaging.tests.test_pacing import Bucket

T0 = 1_800_000_000.0


@pytest.fixture
def sender():
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    key = f"test-batch-{time.monotonic_ns()}"
    yield key
    redis.Redis.from_url(settings.REDIS_URL).delete(f"mp:pace:{key}", f"mp:pace:{key}:due")


def test_a_round_reserves_the_slots_within_its_horizon_and_the_next_round_continues(sender, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    first = pacing.reserve_slots(sender, 3.0, 10, 0.9, now=T0)
    assert (first.first, first.count) == (0, 3)  # 0, 1/3 and 2/3 s; 1 s is past the horizon
    assert first.spacing == pytest.approx(1 / 3)
    assert first.after == pytest.approx(1.0, abs=1e-5)

    second = pacing.reserve_slots(sender, 3.0, 10, 0.9, now=T0 + 0.5)
    assert second.first == pytest.approx(0.5, abs=1e-5)  # the slot at T0 + 1 s
    assert second.count == 2  # T0 + 1 and T0 + 4/3 start within 0.9 s of T0 + 0.5
    assert second.after == pytest.approx(5 / 3 - 0.5, abs=1e-5)


def test_a_sender_whose_next_slot_is_past_the_horizon_gets_none(sender, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    assert pacing.reserve_slots(sender, 1.0, 5, 3.0, now=T0).count == 3  # T0, + 1.04, + 2.08
    later = pacing.reserve_slots(sender, 1.0, 5, 0.5, now=T0 + 1)
    assert later.count == 0
    assert later.after == pytest.approx(3 * 1.04 - 1, abs=1e-5)


def test_a_fast_sender_takes_a_whole_batch_of_slots_at_once(sender):
    slots = pacing.reserve_slots(sender, 100_000.0, 500, 1.0, now=T0)
    assert (slots.first, slots.count) == (0, 500)
    assert pacing.take_turns(sender, 100_000.0, 500, now=T0) == (500, pytest.approx(0, abs=0.001))


def test_turns_let_through_what_the_carriers_bucket_holds(sender, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    # 1/s (burst 1): one now, the next a spacing later.
    assert pacing.take_turns(sender, 1.0, 3, now=T0) == (1, pytest.approx(1.04))
    assert pacing.take_turns(sender, 1.0, 3, now=T0 + 0.5) == (0, pytest.approx(0.54))
    assert pacing.take_turns(sender, 1.0, 3, now=T0 + 1.04)[0] == 1


def test_turns_of_a_bursty_sender_allow_its_burst_less_the_margin(sender, settings):
    settings.SEND_PACING_MARGIN_SECONDS = 0.04
    go, wait = pacing.take_turns(sender, 100.0, 200, now=T0)
    # Each send is due 10 ms after the one before and may go 0.95 s early: 96 go at once.
    assert go == 96
    assert wait == pytest.approx(0.01, abs=1e-6)


@pytest.mark.parametrize("rate", [1.0, 3.0, 100.0])
def test_rounds_of_a_burst_keep_within_two_percent_of_the_rate_and_are_never_refused(sender, settings, rate):
    """Rounds every 0.3 s claim whatever has come due and reserve slots for it within 1 s (the rest
    come due again half that before their slot would be); each send reaches its slot up to `late`
    behind (an event loop's lag), takes its turn and reaches the carrier up to the margin later.
    At 1/s the engine takes the turn right before the write, so only the loop's timer lag (a few
    ms) delays a send; faster senders may run late by much more, which their burst absorbs."""
    settings.SEND_PACING_MARGIN_SECONDS = 0.015
    late = 0.003 if pacing.tolerance(rate) <= 0 else 0.1
    rng = random.Random(3)
    count = int(20 * rate) + 1
    due_at = {n: T0 for n in range(count)}  # queued, claimable from then on
    events = [(T0, 0, -1)]  # (when, order, message or -1 for a round)
    arrivals, order = [], itertools.count(1)
    while events:
        now, _, n = heapq.heappop(events)
        if n < 0:  # a round
            claimed = sorted(m for m, at in due_at.items() if at <= now)
            if claimed:
                slots = pacing.reserve_slots(sender, rate, len(claimed), 1.0, now=now)
                for i, m in enumerate(claimed[: slots.count]):
                    del due_at[m]
                    heapq.heappush(
                        events, (now + slots.first + i * slots.spacing + rng.uniform(0, late), next(order), m)
                    )
                for i, m in enumerate(claimed[slots.count :]):  # as dispatch.round._paced does
                    due_at[m] = max(now, now + slots.after + i * slots.spacing - 0.5)
            if due_at:
                heapq.heappush(events, (now + 0.3, next(order), -1))
            continue
        go, wait = pacing.take_turns(sender, rate, 1, now=now)
        if go:
            arrivals.append(now + rng.uniform(0, settings.SEND_PACING_MARGIN_SECONDS))
        else:
            heapq.heappush(events, (now + wait + rng.uniform(0, late), next(order), n))
    bucket = Bucket(rate)
    arrivals.sort()
    for at in arrivals:
        bucket.take(at - T0)
    achieved = (count - 1) / (arrivals[-1] - arrivals[0])
    assert len(arrivals) == count
    assert bucket.refused == 0
    assert 0.98 * rate <= achieved <= 1.01 * rate
