"""Waking the delivery engine's runners (messaging.dispatch): the cheap, coalesced replacement for a
Celery task per message.

Accepting messages calls `wake()` after commit. Many wake-ups while one is pending make a single
broker message: a Redis key set with NX marks it pending, and a runner at work holds that key
(renewed every round, so that it expires soon after a runner that dies), since it claims from the
table whatever was accepted meanwhile; a runner that stops clears it before its last look at the
table. So a trickle of accepts costs one Redis SET each and no broker message. A wake-up is only
a hint: the messages are in the table, and beat's tick (DISPATCH_TICK_SECONDS) and the sweep wake
the runners anyway, so a wake-up lost with the broker or Redis loses nothing.

Each process also remembers when it last saw the pending key held (its SET NX answered, either
way), and for DISPATCH_WAKE_MEMO_MS after that an immediate wake-up asks Redis nothing: under a
flood of accepts most of them skip the SET. The guarantee stays: a runner that stops waits as
long after clearing the key before its last look (`dispatch_runner_done`). A wake-up skipped on
the memo comes after its message's commit and before the memo ran out, that is, less than the
memo's length after a moment the key was still held, so before the key was cleared plus that
length: before the stopping runner's last look, which claims the message.

Runners hold leases in a Redis sorted set, at most DISPATCH_RUNNERS at a time across all workers;
a killed runner's lease runs out by itself. The runners that apply stored carrier events
(messaging.carrier_events) are woken the same way (`wake_events()`).

With tasks running eagerly (the embedded default, tests) a wake-up delivers in the caller's thread.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable

import redis
from django.conf import settings

from messaging_platform.celery import app

logger = logging.getLogger(__name__)

DISPATCH_TASK = "messaging.tasks.dispatch"
PENDING_KEY = "mp:dispatch:pending"
RUNNERS_KEY = "mp:dispatch:runners"
NO_REDIS = "no-redis"  # a runner's lease when Redis cannot count them

_clients: dict[str, redis.Redis] = {}

# When this process last saw the pending key held: time.monotonic() taken before the SET NX whose
# answer said so (a refusal, or this wake-up's own key), so that the memo never outlives the key.
_seen_held = [-math.inf]
_asked = threading.local()  # when a caller's pipeline asked (pending_command), for wake(pending=…)


def _redis() -> redis.Redis | None:
    url = settings.REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=settings.REDIS_TIMEOUT, socket_connect_timeout=settings.REDIS_TIMEOUT
        )
    return client


def wake(
    *,
    countdown: float | None = None,
    message_ids: Iterable[str] | None = None,
    hops: int = 0,
    extra: bool = False,
    pending: bool | None = None,
) -> None:
    """Have a runner claim due messages now (or in `countdown` seconds). Never raises. `hops`:
    a wake-up passed on by processes that had runners enough (see messaging.dispatch). `extra`:
    one more runner although one is at work (a full round, a wake-up passed on). `pending`: for
    an immediate wake-up, the answer of the pending key's SET NX when the caller sent it in a
    pipeline of its own (`pending_command`): True, it was set and a task goes out."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        from . import dispatch  # the engine imports this module

        try:
            dispatch.run_eagerly(message_ids)
        except Exception:
            logger.exception("Delivering failed; the sweep will pick the messages up")
        return
    delay = countdown if countdown and countdown > 0.001 else None
    # Delayed wake-ups coalesce per tenth of a second of their due time.
    key = PENDING_KEY if delay is None else f"{PENDING_KEY}:{int((time.time() + delay) * 10)}"
    ttl_ms = int((delay or 0) * 1000) + settings.DISPATCH_WAKE_PENDING_MS
    if pending is not None and delay is None and not extra:
        _seen_held[0] = getattr(_asked, "at", -math.inf)  # held now either way: by us or another
        if not pending:
            return  # one is pending already, or a runner at work holds the key
    else:
        if delay is None and not extra and pending_known():
            return  # seen held a moment ago (module docstring)
        client = _redis()
        try:
            asked = time.monotonic()
            if not extra and client is not None:
                was_set = client.set(key, "1", nx=True, px=ttl_ms)
                if delay is None:
                    _seen_held[0] = asked
                if not was_set:
                    return  # one is pending already
        except redis.RedisError:
            pass  # better a wake-up too many than none
    try:
        app.tasks[DISPATCH_TASK].apply_async(
            kwargs={"hops": hops} if hops else None, countdown=delay, expires=(delay or 0) + 60
        )
    except Exception:
        logger.exception("Could not wake the delivery runners; the tick and the sweep will")


def pending_command(pipe: redis.client.Pipeline) -> None:
    """The SET NX of an immediate wake-up, queued in a caller's pipeline to REDIS_URL (one round
    trip with what it sends anyway); its answer goes to `wake(pending=…)`, in the same thread."""
    _asked.at = time.monotonic()
    pipe.set(PENDING_KEY, "1", nx=True, px=settings.DISPATCH_WAKE_PENDING_MS)


def pending_known() -> bool:
    """Whether this process saw the pending key held less than DISPATCH_WAKE_MEMO_MS ago: then an
    immediate wake-up needs no SET NX (module docstring)."""
    return time.monotonic() - _seen_held[0] < settings.DISPATCH_WAKE_MEMO_MS / 1000


def dispatch_pending() -> bool:
    """Whether a delivery runner is at work or a wake-up is on its way (the pending key is held);
    False when Redis cannot say."""
    client = _redis()
    if client is None:
        return False
    try:
        return bool(client.exists(PENDING_KEY))
    except redis.RedisError:
        return False


def dispatch_runner_alive(token: str) -> None:
    """A delivery runner is at work: its lease renewed, and the pending key held, so that accepted
    messages do not wake more tasks (the runner claims them from the table). One Redis trip."""
    client = _redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        pipe = client.pipeline(transaction=False)
        pipe.set(PENDING_KEY, "1", px=settings.DISPATCH_WAKE_PENDING_MS)
        if token != NO_REDIS:
            pipe.zadd(RUNNERS_KEY, {token: time.time() + settings.DISPATCH_RUNNER_LEASE_SECONDS})
        pipe.execute()


def dispatch_runner_done(token: str) -> None:
    """A delivery runner stops: its lease released and the pending key cleared, so that the next
    accepted message wakes a task (the runner's last look at the table comes after this). Returns
    once every process's memo of the key held before has run out (DISPATCH_WAKE_MEMO_MS): a
    wake-up skipped on such a memo was for a message committed before the last look."""
    client = _redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        pipe = client.pipeline(transaction=False)
        if token != NO_REDIS:
            pipe.zrem(RUNNERS_KEY, token)
        pipe.delete(PENDING_KEY)
        pipe.execute()
    _wait_out_memo(settings.DISPATCH_WAKE_MEMO_MS)


def _wait_out_memo(memo_ms: int) -> None:
    # Other machines' clocks may run a little faster: a tenth more, and a millisecond.
    if memo_ms > 0:
        time.sleep(memo_ms / 1000 * 1.1 + 0.001)


def runner_lease(limit: int, *, key: str = RUNNERS_KEY, seconds: float | None = None) -> str | None:
    """A lease for one more runner, or None when `limit` runners hold one (of `key`'s kind,
    each for `seconds` unless renewed; the delivery runners' by default)."""
    client = _redis()
    if client is None:
        return NO_REDIS
    seconds = seconds or settings.DISPATCH_RUNNER_LEASE_SECONDS
    now = time.time()
    token = uuid.uuid4().hex
    try:
        pipe = client.pipeline()
        pipe.zremrangebyscore(key, 0, now)
        pipe.zcard(key)
        _, running = pipe.execute()
        if running >= limit:
            return None
        client.zadd(key, {token: now + seconds})
        client.expire(key, int(seconds) + 60)
    except redis.RedisError:
        return NO_REDIS
    return token


def renew_runner_lease(token: str, *, key: str = RUNNERS_KEY, seconds: float | None = None) -> None:
    client = _redis()
    if client is None or token == NO_REDIS:
        return
    with contextlib.suppress(redis.RedisError):
        client.zadd(key, {token: time.time() + (seconds or settings.DISPATCH_RUNNER_LEASE_SECONDS)})


def release_runner_lease(token: str, *, key: str = RUNNERS_KEY) -> None:
    client = _redis()
    if client is None or token == NO_REDIS:
        return
    with contextlib.suppress(redis.RedisError):
        client.zrem(key, token)


# Carrier events (messaging.carrier_events) -------------------------------------------------------
# The same scheme for the workers that apply stored carrier events: storing an event calls
# `wake_events()`; while a runner is at work it holds the pending key, so a flood of webhooks costs
# one Redis SET each and no broker message, and the runner, which polls the table until it has
# been idle a moment, gathers them into batches.

APPLY_EVENTS_TASK = "messaging.tasks.apply_carrier_events"
EVENTS_PENDING_KEY = "mp:events:pending"
_events_seen_held = [-math.inf]  # as _seen_held, for the carrier events' pending key
EVENTS_RUNNERS_KEY = "mp:events:runners"


def wake_events(*, extra: bool = False, hops: int = 0) -> None:
    """Have a runner apply the stored carrier events. Never raises. `extra`: wake one more
    runner although one is at work (a backlog, or a wake-up passed on by a full process)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER and not extra:
        if time.monotonic() - _events_seen_held[0] < settings.CARRIER_EVENT_WAKE_MEMO_MS / 1000:
            return  # seen held a moment ago: as a send's wake-up (module docstring)
        client = _redis()
        try:
            asked = time.monotonic()
            if client is not None:
                was_set = client.set(
                    EVENTS_PENDING_KEY, "1", nx=True, px=settings.CARRIER_EVENT_WAKE_PENDING_MS
                )
                _events_seen_held[0] = asked  # held now either way: by this wake-up or another
                if not was_set:
                    return  # a runner is at work, or a wake-up is on its way
        except redis.RedisError:
            pass  # better a wake-up too many than none
    try:
        # Eager (tests, the embedded default): the task applies what is due in this thread.
        app.tasks[APPLY_EVENTS_TASK].apply_async(kwargs={"hops": hops} if hops else None, expires=60)
    except Exception:
        logger.exception("Could not wake the carrier events' runners; the tick and the sweep will")


def events_runner_alive(token: str) -> None:
    """A runner is at work: its lease renewed, and the pending key held, so that stored events
    do not wake more tasks (the runner takes them from the table)."""
    client = _redis()
    if client is None:
        return
    seconds = settings.CARRIER_EVENT_RUNNER_LEASE_SECONDS
    with contextlib.suppress(redis.RedisError):
        pipe = client.pipeline(transaction=False)
        pipe.set(EVENTS_PENDING_KEY, "1", px=settings.CARRIER_EVENT_WAKE_PENDING_MS)
        if token != NO_REDIS:
            pipe.zadd(EVENTS_RUNNERS_KEY, {token: time.time() + seconds})
        pipe.execute()


def events_runner_done(token: str) -> None:
    """A runner stops: its lease released and the pending key cleared, so that the next stored
    event wakes a task (the runner's last look at the table comes after this). Returns once
    every process's memo of the key held before has run out (CARRIER_EVENT_WAKE_MEMO_MS)."""
    client = _redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        pipe = client.pipeline(transaction=False)
        if token != NO_REDIS:
            pipe.zrem(EVENTS_RUNNERS_KEY, token)
        pipe.delete(EVENTS_PENDING_KEY)
        pipe.execute()
    _wait_out_memo(settings.CARRIER_EVENT_WAKE_MEMO_MS)
