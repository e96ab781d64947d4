"""Per-sender pacing, shared by every worker process and thread.

Each send reserves its sender's next free slot in Redis with one atomic script ("next slot"
reservation, the same idea as GCRA): slots are one spacing apart, so however many workers send
for one number, the carrier sees at most its rate. A message whose slot is near goes after a short
sleep; one whose slot is further away goes back to the broker with a countdown and stays `queued`,
so a burst to one sender never holds a worker thread that another sender could use.

A slot is when a send may start, not when it does: a worker that wakes up or gets the CPU late
would land closer than the spacing to the next slot holder. So right before the carrier call each
send also takes its turn through the same script, which holds the sends actually made to the
carrier's bucket (GCRA on the send times): where the bucket has no room (1/s, burst 1) a late send
pushes the next one back by its lateness; where it has (a burst above 1), the next one may follow
sooner, within what the burst allows after the margin.

Off in the embedded default (no Redis, tasks run eagerly): the simulator carrier has no limits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings

from messaging_platform import metrics
from numbers.models import PhoneNumber, default_send_rate
from numbers.providers.base import ProviderError

from .enqueue import enqueue_send
from .models import Message, Status

# KEYS[1]: the sender's next free slot; KEYS[2]: when its next send is due by the sends so far (the
# GCRA "theoretical arrival time"), both in µs of Redis's clock, so workers' clocks do not matter.
# ARGV[1]: 'reserve' or 'turn'; ARGV[2]: the spacing; ARGV[3]: how much earlier than due a send
# may go (the carrier's burst, less the margin); ARGV[4]: 'turn' only, the longest wait worth
# sleeping through; ARGV[5]: tests only, a fake clock. All in µs.
#   reserve: reserve the next slot; answers the wait until it (0: now).
#   turn:    {0, 0}: go now (and count this send); {1, wait}: sleep `wait` and ask again; {2, wait}:
#            the sender runs further behind than that, so a fresh slot at the end of its queue is
#            reserved instead, `wait` away.
_PACE = """
local now
if ARGV[5] and ARGV[5] ~= '' then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local spacing, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local due = tonumber(redis.call('GET', KEYS[2]) or '0')
local function keep(key, value)
  redis.call('SET', key, string.format('%.0f', value), 'PX', math.ceil((value - now) / 1000) + 60000)
end
local function reserve()
  local slot = math.max(now, next_free, due - tolerance)
  keep(KEYS[1], slot + spacing)
  return slot - now
end
if ARGV[1] == 'reserve' then
  return reserve()
end
if now >= due - tolerance then
  keep(KEYS[2], math.max(due, now) + spacing)
  return {0, 0}
end
if due - tolerance - now <= tonumber(ARGV[4]) then
  return {1, due - tolerance - now}
end
return {2, reserve()}
"""

# The same two keys, for the delivery engine's batches: one trip per sender per round.
#   reserve_many: ARGV[1] 'reserve_many', ARGV[4] n, ARGV[5] horizon: reserve up to n consecutive
#                 slots that start within the horizon; answers {wait until the first, how many,
#                 wait until the sender's next free slot after them}.
#   turns:        ARGV[1] 'turns', ARGV[4] n: count as many of n sends as keep to the carrier's
#                 bucket now (GCRA); answers {how many may go now, wait until the next may}.
# ARGV[2], ARGV[3]: spacing and tolerance as above; ARGV[6]: tests only, a fake clock. All in µs.
_PACE_MANY = """
local now
if ARGV[6] and ARGV[6] ~= '' then
  now = tonumber(ARGV[6])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local spacing, tolerance, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function keep(key, value)
  redis.call('SET', key, string.format('%.0f', value), 'PX', math.ceil((value - now) / 1000) + 60000)
end
local due = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] == 'reserve_many' then
  local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
  local slot = math.max(now, next_free, due - tolerance)
  local count = 0
  local horizon = tonumber(ARGV[5])
  if slot - now <= horizon then
    count = math.min(n, math.floor((horizon - (slot - now)) / spacing) + 1)
    keep(KEYS[1], slot + count * spacing)
  end
  return {string.format('%.0f', slot - now), count, string.format('%.0f', slot + count * spacing - now)}
end
local go = 0
while go < n and now >= due - tolerance do
  due = math.max(due, now) + spacing
  go = go + 1
end
if go > 0 then
  keep(KEYS[2], due)
end
return {go, string.format('%.0f', math.max(0, due - tolerance - now))}
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
        script = _local.script = client.register_script(_PACE)
        _local.url = settings.REDIS_URL
    return script


def spacing(rate: float) -> float:
    """Seconds between two slots of a sender at `rate` messages/s.

    Carriers enforce a rate as a token bucket; we count on a burst of max(1, rate). A send reaches
    the carrier some time after its turn (the HTTP call's own jitter, up to SEND_PACING_MARGIN_SECONDS
    assumed). A bucket with burst b lets a send arrive (b - 1) / rate early; only the part of the
    margin beyond that is added to 1 / rate. At 1/s (burst 1) that is the whole margin, a few per
    cent of the interval; from about 1.05/s up the bucket absorbs it all and slots are exactly
    1 / rate apart, so a short code at 100/s is not paced at 100 / (1 + 100 x margin) (17/s with
    50 ms).
    """
    return 1 / rate + max(0.0, -_slack(rate))


def tolerance(rate: float) -> float:
    """How much earlier than due (by the sender's sends so far) a send may go: what the carrier's
    burst leaves after the margin. A send that ran late may be followed sooner by this much, so
    a late worker costs the rate nothing as long as it is this late at most."""
    return max(0.0, _slack(rate))


def _slack(rate: float) -> float:
    return (max(1.0, rate) - 1) / rate - settings.SEND_PACING_MARGIN_SECONDS


def _call(mode: str, sender_key: str, rate: float, *args: float | str):
    keys = [f"mp:pace:{sender_key}", f"mp:pace:{sender_key}:due"]
    micros = [round(spacing(rate) * 1_000_000), round(tolerance(rate) * 1_000_000)]
    return _script()(keys=keys, args=[mode, *micros, *args])


@dataclass(frozen=True)
class Slots:
    """Consecutive pacing slots of one sender, reserved in one trip: the i-th (from 0) starts
    `first + i * spacing` seconds from when they were reserved; `after`: when the sender's next
    free slot is, for the messages that got none (they wait for it, and the ones behind them one
    spacing more each)."""

    first: float
    count: int
    spacing: float
    after: float


def reserve_slots(sender_key: str, rate: float, n: int, horizon: float, *,
                  now: float | None = None) -> Slots:
    """Reserve up to `n` consecutive slots of `sender_key` that start within `horizon` seconds
    (one Redis trip however many): a batch's messages of one sender."""
    clock = "" if now is None else round(now * 1_000_000)
    first, count, after = _call_many("reserve_many", sender_key, rate, n, round(horizon * 1_000_000), clock)
    return Slots(int(first) / 1_000_000, int(count), spacing(rate), int(after) / 1_000_000)


def take_turns(sender_key: str, rate: float, n: int, *, now: float | None = None) -> tuple[int, float]:
    """Right before sending `n` messages of one sender whose slots have come: how many of them
    may go now by the carrier's bucket (they are counted), and the seconds until the next one may."""
    clock = "" if now is None else round(now * 1_000_000)
    go, wait = _call_many("turns", sender_key, rate, n, 0, clock)
    return int(go), int(wait) / 1_000_000


def _call_many(mode: str, sender_key: str, rate: float, *args: float | str):
    keys = [f"mp:pace:{sender_key}", f"mp:pace:{sender_key}:due"]
    micros = [round(spacing(rate) * 1_000_000), round(tolerance(rate) * 1_000_000)]
    return _script_many()(keys=keys, args=[mode, *micros, *args])


def _script_many():
    script = getattr(_local, "script_many", None)
    if script is None or _local.url_many != settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        script = _local.script_many = client.register_script(_PACE_MANY)
        _local.url_many = settings.REDIS_URL
    return script


def reserve_slot(sender_key: str, rate: float, *, now: float | None = None) -> float:
    """Reserve the next slot of `sender_key` at `rate` messages/s; answers seconds until it.
    `now` (epoch seconds) is a fake clock for tests; Redis's clock otherwise."""
    clock = "" if now is None else round(now * 1_000_000)
    return int(_call("reserve", sender_key, rate, 0, clock)) / 1_000_000


def take_turn(sender_key: str, rate: float, *, now: float | None = None) -> tuple[str, float]:
    """Right before the carrier call: ("go", 0) if the send keeps to the carrier's bucket (GCRA: no
    earlier than a spacing after the sends before it, less the tolerance; it is counted); ("wait",
    seconds) to sleep and ask again; ("slot", seconds) when the sender runs further behind than a
    short sleep or one spacing, with a fresh slot reserved that far away."""
    clock = "" if now is None else round(now * 1_000_000)
    # Sleeping up to one spacing holds about one thread per sender however late sends run; a
    # fresh slot instead would leave the old one unused, a whole interval lost at 1/s.
    sleep_max = max(settings.SEND_PACING_SLEEP_MAX_SECONDS, spacing(rate))
    kind, wait = _call("turn", sender_key, rate, round(sleep_max * 1_000_000), clock)
    return ("go", "wait", "slot")[int(kind)], int(wait) / 1_000_000


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
        metrics.pacing_wait("sleep", remaining)
        time.sleep(remaining)


def slot_for(*, message_id: str, not_before: float | None) -> float | None:
    """When (epoch seconds) the message may go to the carrier: within a short sleep from now. If its
    slot is further away, it is re-enqueued for its slot (keeping it) and this answers None; None
    too when the message is no longer queued. The caller does its database work first, then sleeps
    until the slot and takes its turn (`wait_for_turn`) right before the carrier call, so that the
    spacing is what the carrier sees."""
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
    if not_before - time.time() <= settings.SEND_PACING_SLEEP_MAX_SECONDS:
        return not_before
    wait_in_broker(message_id=message_id, not_before=not_before)
    return None


def wait_in_broker(*, message_id: str, not_before: float) -> None:
    """Re-enqueue a queued message for its slot at `not_before` (epoch seconds)."""
    remaining = not_before - time.time()
    # A countdown longer than the broker's visibility timeout would be redelivered: hop instead.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    # Arrive a little early and sleep the rest: a countdown fires late rather than early.
    lead = settings.SEND_PACING_SLEEP_MAX_SECONDS / 2
    countdown = min(remaining - lead, settings.SEND_PACING_MAX_COUNTDOWN_SECONDS, visibility / 2)
    metrics.pacing_wait("broker", countdown)
    enqueue_send(message_id, countdown=max(0.0, countdown), not_before=not_before)


def retry_in_turn(sender: PacedSender, error: ProviderError) -> float | None:
    """After the carrier refused a paced send for throughput (a 429: it reached the carrier too
    soon after the one before, later than the margin covers), when (epoch seconds) to try once
    more in this thread, at the sender's next turn; None to retry with the usual backoff instead.
    Only where the carrier's Retry-After is within a spacing (1/s and below): there a backoff
    would put the message at the end of its sender's queue and leave its slot unused."""
    if error.status != 429:
        return None
    wait = error.retry_after or 0.0
    if wait > max(settings.SEND_PACING_SLEEP_MAX_SECONDS, spacing(sender.rate)):
        return None
    return time.time() + wait


def wait_for_turn(sender: PacedSender) -> float | None:
    """Sleep until the sender's turn, right before the carrier call; None to send now. When the
    sender runs further behind than a short sleep or one spacing (a send before this one ran very
    late), answers the epoch seconds of a fresh slot instead, for which the caller puts the
    message back."""
    while True:
        kind, wait = take_turn(sender.key, sender.rate)
        if kind == "go":
            return None
        if kind == "slot":
            return time.time() + wait
        metrics.pacing_wait("sleep", wait)
        time.sleep(wait)
