"""Per-sender pacing, shared by every worker process and thread.

A delivery round reserves its messages' slots in Redis with one atomic script per sender ("next
slot" reservation, the same idea as GCRA): slots are one spacing apart, so however many workers
send for one number, the carrier sees at most its rate. The messages whose slots start within the
round's horizon go in this round, each from its slot; the rest go back to `queued`, due shortly
before their sender would be free for them (messaging.dispatch).

A slot is when a send may start, not when it does: a loop that gets the CPU late would land
closer than the spacing to the next slot holder. So right before the carrier call the sends take
their turns through the same script, which holds the sends actually made to the carrier's bucket
(GCRA on the send times): where the bucket has no room (1/s, burst 1) a late send pushes the next
one back by its lateness; where it has (a burst above 1), the next one may follow sooner, within
what the burst allows after the margin.

Off in the embedded default (no Redis, tasks run eagerly): the simulator carrier has no limits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from messaging_platform import metrics
from numbers.models import PhoneNumber, default_send_rate
from numbers.providers.base import ProviderError

# KEYS[1]: the sender's next free slot; KEYS[2]: when its next send is due by the sends so far (the
# GCRA "theoretical arrival time"), both in µs of Redis's clock, so workers' clocks do not matter.
# The delivery engine's batches make one trip per sender per round:
#   reserve_many: ARGV[1] 'reserve_many', ARGV[4] n, ARGV[5] horizon: reserve up to n consecutive
#                 slots that start within the horizon; answers {wait until the first, how many,
#                 wait until the sender's next free slot after them}.
#   turns:        ARGV[1] 'turns', ARGV[4] n: count as many of n sends as keep to the carrier's
#                 bucket now (GCRA); answers {how many may go now, wait until the next may}.
#   late:         ARGV[1] 'late', ARGV[4] µs: a send went out this much later than its turn;
#                 the sender's next send is due that much later too.
# ARGV[2]: the spacing; ARGV[3]: how much earlier than due a send may go (the carrier's burst, less
# the margin); ARGV[6]: tests only, a fake clock. All in µs.
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
if ARGV[1] == 'late' then
  if due > 0 then
    keep(KEYS[2], due + n)
  end
  return {0, 0}
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


def reserve_slots(sender_key: str, rate: float, n: int, horizon: float, *, now: float | None = None) -> Slots:
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


def push_back(sender_key: str, rate: float, seconds: float) -> None:
    """A send of `sender_key` reached the wire `seconds` later than its turn (the process was
    descheduled, or waited for a connection): its next send is due that much later, so that the
    carrier still sees the sends a spacing apart."""
    _call_many("late", sender_key, rate, round(seconds * 1_000_000), 0, "")


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
    row = PhoneNumber.objects.filter(phone_number=from_number).values_list("send_rate", "number_type").first()
    rate = (row[0] or default_send_rate(row[1])) if row else settings.SEND_RATE_LONG_CODE
    _rates[from_number] = (rate, time.monotonic())
    return PacedSender(from_number, rate)


def sleep_until(moment: float) -> None:
    remaining = moment - time.time()
    if remaining > 0:
        metrics.pacing_wait("sleep", remaining)
        time.sleep(remaining)


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
