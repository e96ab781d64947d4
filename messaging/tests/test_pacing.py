"""The pacing slots in Redis, and the rates senders pace at."""

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
    redis.Redis.from_url(settings.REDIS_URL).delete(f"mp:pace:{key}")


def test_slots_of_one_sender_are_one_interval_apart_and_others_are_free(slots, settings):
    settings.SEND_RATE_HEADROOM = 0
    waits = [pacing.reserve_slot(slots, 10.0) for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.02)
    for before, after in zip(waits, waits[1:], strict=False):
        assert after - before == pytest.approx(0.1, abs=0.02)
    assert pacing.reserve_slot(slots + "-other", 10.0) == pytest.approx(0, abs=0.02)


def test_headroom_paces_a_little_under_the_rate(slots, settings):
    settings.SEND_RATE_HEADROOM = 0.03
    pacing.reserve_slot(slots, 1.0)
    assert pacing.reserve_slot(slots, 1.0) == pytest.approx(1 / 0.97, abs=0.02)


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
