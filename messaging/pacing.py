"""Per-sender pacing, shared by every worker process and thread.

Each send reserves its sender's next free slot in Redis with one atomic script ("next slot"
reservation, the same idea as GCRA): slots are one interval apart, so however many workers send
for one number, the carrier sees at most its rate. A message whose slot is near goes after a short
sleep; one whose slot is further away goes back to the broker with a countdown and stays `queued`,
so a burst to one sender never holds a worker thread that another sender could use.

Off in the embedded default (no Redis, tasks run eagerly): the simulator carrier has no limits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings

from numbers.models import PhoneNumber, default_send_rate

from .models import Message, Status

# KEYS[1]: the sender's key; ARGV[1]: the interval in microseconds. Answers the wait in
# microseconds until the reserved slot (0: now). Redis's own clock, so workers' clocks do not matter.
_RESERVE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local ttl_ms = math.ceil((slot + interval - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', ttl_ms)
return slot - now
"""

_RATE_CACHE_SECONDS = 10.0
_local = threading.local()
_rates: dict[str, tuple[float, float]] = {}  # sender key -> (rate, fetched at)


def pacing_enabled() -> bool:
    return bool(settings.SEND_PACING and settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER)


def _script():
    script = getattr(_local, "script", None)
    if script is None or _local.url != settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        script = _local.script = client.register_script(_RESERVE_SLOT)
        _local.url = settings.REDIS_URL
    return script


def reserve_slot(sender_key: str, rate: float) -> float:
    """Reserve the next slot of `sender_key` at `rate` messages/s; answers seconds until it."""
    interval_us = 1_000_000 / (rate * (1 - settings.SEND_RATE_HEADROOM))
    waited = _script()(keys=[f"mp:pace:{sender_key}"], args=[round(interval_us)])
    return int(waited) / 1_000_000


@dataclass(frozen=True)
class PacedSender:
    key: str
    rate: float


def sender_of(*, from_number: str, messaging_service_sid: str) -> PacedSender:
    """A number paces at its own rate (or its type's default); a Messaging Service at the
    service rate setting, since the carrier picks the number from its pool."""
    if not from_number:
        return PacedSender(f"mg:{messaging_service_sid}", settings.SEND_RATE_MESSAGING_SERVICE)
    cached = _rates.get(from_number)
    if cached and time.monotonic() - cached[1] < _RATE_CACHE_SECONDS:
        return PacedSender(from_number, cached[0])
    row = PhoneNumber.objects.filter(phone_number=from_number).values_list(
        "send_rate", "number_type").first()
    rate = (row[0] or default_send_rate(row[1])) if row else settings.SEND_RATE_LONG_CODE
    _rates[from_number] = (rate, time.monotonic())
    return PacedSender(from_number, rate)


def sleep_until(moment: float) -> None:
    remaining = moment - time.time()
    if remaining > 0:
        time.sleep(remaining)


def slot_for(*, message_id: str, not_before: float | None) -> float | None:
    """When (epoch seconds) the message may go to the carrier: within a short sleep from now. If its
    slot is further away, it is re-enqueued for its slot (keeping it) and this answers None; None
    too when the message is no longer queued. The caller does its database work first and sleeps
    until the slot right before the carrier call, so that the slot's spacing is what the carrier
    sees."""
    from .tasks import enqueue_send

    if not_before is None:
        row = (Message.objects.filter(pk=message_id, status=Status.QUEUED)
               .values_list("from_number", "messaging_service_sid").first())
        if row is None:
            return None
        sender = sender_of(from_number=row[0], messaging_service_sid=row[1])
        not_before = time.time() + reserve_slot(sender.key, sender.rate)
        remaining = not_before - time.time()
        if remaining > settings.SEND_PACING_SLEEP_MAX_SECONDS:
            # The sweep must not take a message waiting for its slot for a forgotten one.
            Message.objects.filter(pk=message_id, status=Status.QUEUED).update(
                next_attempt_at=datetime.fromtimestamp(not_before, UTC))
    remaining = not_before - time.time()
    if remaining <= settings.SEND_PACING_SLEEP_MAX_SECONDS:
        return not_before
    # A countdown longer than the broker's visibility timeout would be redelivered: hop instead.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    # Arrive a little early and sleep the rest: a countdown fires late rather than early.
    lead = settings.SEND_PACING_SLEEP_MAX_SECONDS / 2
    countdown = min(remaining - lead, settings.SEND_PACING_MAX_COUNTDOWN_SECONDS, visibility / 2)
    enqueue_send(message_id, countdown=countdown, not_before=not_before)
    return None
