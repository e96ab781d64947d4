"""The runners: Celery's rounds while messages are due, a bind process's rounds, eager delivery."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .. import wakeup
from ..models import Message, Status
from .round import _round, dispatch_messages, dispatch_round
from .scope import Scope, _scoped, celery_scope

logger = logging.getLogger(__name__)


_here_lock = threading.Lock()
_here = 0  # runners in this process


def _runner_here() -> bool:
    global _here
    with _here_lock:
        if _here >= settings.DISPATCH_RUNNERS_PER_PROCESS:
            return False
        _here += 1
        return True


def _runner_gone() -> None:
    global _here
    with _here_lock:
        _here -= 1


def run_rounds(
    *,
    scope: Scope | None = None,
    seconds: float | None = None,
    runners: int | None = None,
    hops: int = 0,
    tick: bool = False,
) -> int:
    """Rounds while messages are due, for up to `seconds`, as one of at most `runners` runners at
    a time (a Redis lease each; without Redis, any number) and of DISPATCH_RUNNERS_PER_PROCESS in
    this process: a wake-up that finds this process full is passed on, up to DISPATCH_WAKE_HOPS
    times, so that the runners spread over the worker processes (and their cores). A full round
    wakes one more runner; a short one is followed by a pause of DISPATCH_LINGER_SECONDS, so that
    under a trickle of accepts a round gathers that many seconds' worth rather than one or two
    messages. With nothing queued it keeps looking for DISPATCH_IDLE_SECONDS before it ends (the
    next accept of a trickle then wakes no task); with messages queued for later, it waits for
    them as long, else sets a wake-up for when the first comes due. While it runs it holds the
    wake-up's pending key, so accepts wake no more tasks (messaging.wakeup), and beat's `tick`
    finding it held leaves the work to that runner: a trickle stays one runner's, in rounds that
    gather, rather than several runners' rounds of a message each. Answers how many it claimed."""
    if tick and wakeup.dispatch_pending():
        return 0  # a runner is at work, or a wake-up on its way (the key expires with a dead one)
    scope = scope or celery_scope()
    limit = settings.DISPATCH_BATCH_SIZE
    token = wakeup.runner_lease(runners or settings.DISPATCH_RUNNERS)
    if token is None:
        return 0  # enough runners are at work; they claim what this wake-up was for
    if not _runner_here():
        wakeup.release_runner_lease(token)
        if hops < settings.DISPATCH_WAKE_HOPS:
            wakeup.wake(hops=hops + 1, extra=True)
        return 0
    try:
        return _run_rounds(scope, limit, token, seconds)
    finally:
        _runner_gone()


def _run_rounds(scope: Scope, limit: int, token: str, seconds: float | None) -> int:
    claimed, out_of_time = 0, True
    now = time.monotonic()
    deadline, idle_until = (
        now + (seconds or settings.DISPATCH_RUN_SECONDS),
        now + settings.DISPATCH_IDLE_SECONDS,
    )
    try:
        while time.monotonic() < deadline:
            wakeup.dispatch_runner_alive(token)
            n = dispatch_round(limit=limit, scope=scope)
            claimed += n
            if n >= limit:
                wakeup.wake(extra=True)  # more are due: another runner may help
                continue
            if n:
                idle_until = time.monotonic() + settings.DISPATCH_IDLE_SECONDS
                time.sleep(settings.DISPATCH_LINGER_SECONDS)
                continue
            next_due = next_due_in(scope)
            if next_due is None:
                if time.monotonic() < idle_until:  # a trickle: the next accept comes soon
                    time.sleep(settings.DISPATCH_LINGER_SECONDS)
                    continue
                out_of_time = False
                break
            if next_due > settings.DISPATCH_IDLE_SECONDS:
                wakeup.wake(countdown=next_due)
                out_of_time = False
                break
            time.sleep(max(0.01, next_due))
    finally:
        wakeup.dispatch_runner_done(token)
    # A message accepted after the last round whose wake-up found the pending key still held:
    # from here on accepts wake a new task, so one more look claims what came in between.
    last = dispatch_round(limit=limit, scope=scope)
    if last or out_of_time:
        wakeup.wake()  # work left (or out of time): a fresh task carries on
    return claimed + last


def next_due_in(scope: Scope) -> float | None:
    """Seconds until the next queued message comes due (0 if one is due now); None if none is queued."""
    first = (
        _scoped(Message.objects.filter(status=Status.QUEUED), scope)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        exists = _scoped(Message.objects.filter(status=Status.QUEUED), scope).exists()
        return 0.0 if exists else None
    return max(0.0, (first - timezone.now()).total_seconds())


def serve_rounds(
    *,
    scope: Callable[[], Scope | None],
    stop: threading.Event,
    limit: int,
    idle_seconds: float,
    busy: threading.Event | None = None,
    helper: bool = False,
) -> int:
    """Rounds for a process that sends for carrier accounts of its own (the SMPP bind process),
    from one of its threads, until `stop` is set: `scope()` says which messages to claim now (None:
    none, e.g. no bind is up); an empty round waits `idle_seconds`. No Celery runner lease or
    wake-up: the process polls the table, its queue of record. Several threads share `busy`: a
    `helper` runs rounds only while a full round has set it (one thread polls an idle table, not
    all of them). Answers how many it claimed."""
    claimed = 0
    try:
        while not stop.is_set():
            if helper and busy is not None and not busy.wait(idle_seconds):
                continue
            current = scope()
            if current is None:
                stop.wait(idle_seconds)
                continue
            try:
                n, outcomes = _round(limit, current)
                if outcomes is not None and outcomes.not_taken and settings.CELERY_TASK_ALWAYS_EAGER:
                    # No broker: nobody else claims what went to a fallback account of another
                    # carrier, so it is sent now (the rest are not Celery's and stay).
                    wakeup.wake(message_ids=[job.message.id for job, _ in outcomes.not_taken])
            except Exception:  # PostgreSQL away, a bug: the messages stay in the table
                logger.exception("A delivery round failed; trying again")
                connection.close()
                stop.wait(1.0)
                continue
            claimed += n
            if busy is not None:
                if n >= limit:
                    busy.set()  # more are due: the helpers join in
                elif not helper:
                    busy.clear()
            if not n:
                stop.wait(idle_seconds)
    finally:
        connection.close()
    return claimed


def run_eagerly(message_ids: Iterable[str] | None) -> None:
    """Without a broker (the embedded default, tests): deliver now, in this thread, and retry at
    once as Celery's eager mode runs a countdown task at once, up to SEND_MAX_ATTEMPTS."""
    ids = list(message_ids or [])
    if not ids:
        for _ in range(settings.SEND_MAX_ATTEMPTS):
            if not dispatch_round():
                return
        return
    for _ in range(settings.SEND_MAX_ATTEMPTS):
        retried = dispatch_messages(ids)
        if not retried:
            return
        ids = [r.message_id for r in retried]
