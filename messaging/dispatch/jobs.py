"""A round's messages with their adapters, and what became of them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from numbers.providers.base import PermanentProviderError, Provider, SendResult, TransientProviderError

from .. import pacing
from ..lifecycle import Failed, RetryLater, Sent, WaitForSlot
from ..models import Message
from ..operations.logs import log_message_outcome

logger = logging.getLogger(__name__)


class RoundHooks(Protocol):
    """What an adapter with Capability.ROUND_HOOKS offers beside the Provider protocol."""

    def prepare_sends(self, messages: list[Message]) -> dict[str, Exception | SendResult]: ...

    def record_sends(self, sent: list[tuple[Message, SendResult]], unsent_ids: list[str]) -> None: ...


@dataclass
class _Job:
    message: Message
    provider: Provider
    callback: str
    sender: pacing.PacedSender | None = None
    go_at: float = 0.0  # epoch seconds: its pacing slot (0: now)


@dataclass
class Outcomes:
    sent: list[Sent] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    retry: list[RetryLater] = field(default_factory=list)
    wait: list[WaitForSlot] = field(default_factory=list)
    not_taken: list[tuple[_Job, Exception]] = field(default_factory=list)  # to fail over
    results: list[tuple[_Job, SendResult]] = field(default_factory=list)  # for the round hooks
    jobs: list[_Job] = field(default_factory=list)  # every message the round sent or tried to


def _by_provider(jobs: Iterable[_Job]) -> dict[int, list[_Job]]:
    groups: dict[int, list[_Job]] = defaultdict(list)
    for job in jobs:
        groups[id(job.provider)].append(job)
    return groups


def _fails_over(job: _Job, exc: Exception, outcomes: Outcomes) -> bool:
    """A refusal the carrier definitely did not take the message with (ProviderError.not_taken),
    of a message whose route has a fallback account: kept for the fallback (written back with
    the round)."""
    if not (getattr(exc, "not_taken", False) and job.message.fallback_account_id):
        return False
    outcomes.not_taken.append((job, exc))
    return True


def _retry(job: _Job, exc: TransientProviderError) -> RetryLater:
    return RetryLater(job.message.id, job.message.attempts, exc.message, exc.code, exc.retry_after)


def _record_sent(job: _Job, result: SendResult, outcomes: Outcomes) -> None:
    outcomes.sent.append(Sent(job.message.id, result.provider_sid))
    outcomes.results.append((job, result))
    log_message_outcome(job.message, "Handed to the carrier", carrier_sid=result.provider_sid)


def _record_error(job: _Job, exc: Exception, outcomes: Outcomes) -> None:
    if isinstance(exc, PermanentProviderError):
        outcomes.failed.append(Failed(job.message.id, exc.code or "carrier_rejected", exc.message))
    else:  # an adapter bug or an unexpected library error: retried, bounded by the attempts
        logger.error("Unexpected error sending %s", job.message.id, exc_info=exc)
        reason = str(exc) or type(exc).__name__
        outcomes.retry.append(RetryLater(job.message.id, job.message.attempts, reason))
