"""The sends of a round on the send loop: each sender's messages from their slots, in turn."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from django.conf import settings

from messaging_platform import keepalive_http, metrics
from numbers.providers.base import Capability, NotSent, SendInDoubt, TransientProviderError, async_sender

from .. import pacing
from ..lifecycle import WaitForSlot
from .jobs import Outcomes, _fails_over, _Job, _record_error, _record_sent, _retry

logger = logging.getLogger(__name__)


async def _send_all(jobs: list[_Job], outcomes: Outcomes) -> None:
    by_sender: dict[object, list[_Job]] = defaultdict(list)
    for job in jobs:
        by_sender[job.sender.key if job.sender else None].append(job)
    await asyncio.gather(*(_send_group(group, outcomes) for group in by_sender.values()))


async def _send_group(group: list[_Job], outcomes: Outcomes) -> None:
    """One sender's messages, in slot order, each from its slot on. A sender the carrier allows no
    burst (about 1/s) takes each send's turn in the send's own step, right before its HTTP write,
    so that loop lag delays the send rather than crowding the next one; a faster sender takes the
    turns of all the sends whose slots have come together (one Redis trip), its burst absorbing
    the jitter."""
    sender = group[0].sender
    if sender is not None and pacing.tolerance(sender.rate) <= 0:
        sending: list[asyncio.Task[None]] = []
        for job in group:
            wait = job.go_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            sending.append(asyncio.create_task(_send_one(job, outcomes, take_turn=True)))
        await asyncio.gather(*sending)
        return
    sending = []
    i = 0
    while i < len(group):
        wait = group[i].go_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        now = time.time()
        ready = 1
        while i + ready < len(group) and group[i + ready].go_at <= now:
            ready += 1
        go = ready
        if sender is not None:
            go, turn_wait = pacing.take_turns(sender.key, sender.rate, ready)
            if go == 0:
                if _far_behind(sender, turn_wait):
                    _wait_in_table(group[i:], sender, now + turn_wait, outcomes)
                    break
                await asyncio.sleep(turn_wait)
                continue
        sending += [asyncio.create_task(_send_one(job, outcomes)) for job in group[i : i + go]]
        i += go
    await asyncio.gather(*sending)


# Senders paced at up to this rate (messages/s) have their sends take the first free connection,
# ahead of faster senders' bursts: a paced sender keeps to its carrier's limit only if its sends
# reach the carrier within the pacing margin of their turns; an unpaced burst loses nothing by
# letting them by.
URGENT_RATE = 1000.0


def _far_behind(sender: pacing.PacedSender, wait: float) -> bool:
    return wait > max(settings.SEND_PACING_SLEEP_MAX_SECONDS, pacing.spacing(sender.rate))


def _wait_in_table(
    jobs: Sequence[_Job], sender: pacing.PacedSender, first: float, outcomes: Outcomes
) -> None:
    """The sender runs far behind (a send before ran very late): these wait in the table for
    their turns, one spacing apart, rather than hold the round."""
    step = pacing.spacing(sender.rate)
    outcomes.wait += [WaitForSlot(job.message.id, first + k * step) for k, job in enumerate(jobs)]


def _arguments(job: _Job) -> dict[str, Any]:
    message = job.message
    arguments: dict[str, Any] = {
        "to": message.to_number,
        "from_number": message.from_number or None,
        "body": message.body,
        "media_urls": list(message.media_urls),
        "status_callback": job.callback,
        "messaging_service_sid": message.messaging_service_sid or None,
    }
    if Capability.ROUND_HOOKS in job.provider.capabilities:
        arguments["message_id"] = message.id  # what it keeps beside the message is by our id
    return arguments


async def _send_one(job: _Job, outcomes: Outcomes, *, take_turn: bool = False) -> None:
    send = async_sender(job.provider)
    assert send is not None  # only jobs of adapters with send_async come here
    if job.sender is not None and job.sender.rate <= URGENT_RATE:
        # Its turn says when it reaches the carrier: it must not then wait for a connection
        # behind another sender's burst (this task's context only).
        keepalive_http.urgent.set(True)
    for again in (False, True):
        if take_turn or again:
            asked = await _turn(job, outcomes)
            if asked is None:
                return
            keepalive_http.on_write.set(
                functools.partial(_written, cast(pacing.PacedSender, job.sender), asked)
            )
        started = time.monotonic()
        try:
            result = await send(**_arguments(job))
        except NotSent as exc:
            # It never left: back as if unclaimed, no attempt counted (an SMPP bind that is down).
            metrics.observe_send(job.provider.name, started)
            outcomes.wait.append(
                WaitForSlot(job.message.id, time.time() + (exc.retry_after or 0.0), exc.message)
            )
            return
        except SendInDoubt as exc:
            # The carrier may have it: never sent again blindly. It stays `sending` (claimed),
            # and after the lease the sweep looks it up at the carrier before any second send.
            metrics.observe_send(job.provider.name, started)
            logger.warning(
                "Send of %s in doubt (%s); left to the carrier look-up after the lease",
                job.message.id,
                exc.message,
            )
            return
        except TransientProviderError as exc:
            metrics.observe_send(job.provider.name, started)
            if _fails_over(job, exc, outcomes):
                return
            retry_at = None if again or job.sender is None else pacing.retry_in_turn(job.sender, exc)
            if retry_at is None:
                outcomes.retry.append(_retry(job, exc))
                return
            # Refused for throughput at 1/s or below: once more at its sender's next turn.
            logger.info(
                "Carrier refused %s for throughput; once more at its sender's next turn", job.message.id
            )
            await asyncio.sleep(max(0.0, retry_at - time.time()))
            continue
        except Exception as exc:
            metrics.observe_send(job.provider.name, started)
            if not _fails_over(job, exc, outcomes):
                _record_error(job, exc, outcomes)
            return
        metrics.observe_send(job.provider.name, started)
        _record_sent(job, result, outcomes)
        return


async def _turn(job: _Job, outcomes: Outcomes) -> float | None:
    """Wait for the sender's turn; answers when (epoch seconds) the turn was asked for, or None
    when the sender runs so far behind that the message goes back to the table instead. No await
    between the turn granted and the caller's HTTP write."""
    sender = job.sender
    assert sender is not None
    while True:
        asked = time.time()
        go, wait = pacing.take_turns(sender.key, sender.rate, 1)
        if go:
            return asked
        if _far_behind(sender, wait):
            _wait_in_table([job], sender, time.time() + wait, outcomes)
            return None
        await asyncio.sleep(wait)


# A turn's answer from Redis and the write after it take about this long; a send that left later
# than that after asking for its turn pushes its sender's next turn back by the difference.
WRITE_SLACK_SECONDS = 0.002


def _written(sender: pacing.PacedSender, asked: float) -> None:
    late = time.time() - asked - WRITE_SLACK_SECONDS
    if late > 0:
        try:
            pacing.push_back(sender.key, sender.rate, late)
        except Exception as exc:  # Redis away: the margin is all there is
            logger.warning("Could not push %s's next turn back by %.3f s: %s", sender.key, late, exc)


def _send_in_thread(job: _Job, outcomes: Outcomes) -> None:
    """A carrier without an async send (the simulator, which does no I/O): here, one at a time."""
    if job.go_at:
        pacing.sleep_until(job.go_at)
        if job.sender is not None:
            while True:
                go, wait = pacing.take_turns(job.sender.key, job.sender.rate, 1)
                if go:
                    break
                time.sleep(wait)
    started = time.monotonic()
    try:
        result = job.provider.send(**_arguments(job))
    except TransientProviderError as exc:
        metrics.observe_send(job.provider.name, started)
        if not _fails_over(job, exc, outcomes):
            outcomes.retry.append(_retry(job, exc))
    except Exception as exc:
        metrics.observe_send(job.provider.name, started)
        if not _fails_over(job, exc, outcomes):
            _record_error(job, exc, outcomes)
    else:
        metrics.observe_send(job.provider.name, started)
        _record_sent(job, result, outcomes)
