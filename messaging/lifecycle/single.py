"""One message: the batch functions with one item."""

from typing import TYPE_CHECKING

from messaging_platform.errors import DomainError

from ..models import Message
from .actions import messages_cancel, messages_requeue
from .delivery import (
    messages_claim,
    messages_fail,
    messages_mark_sent,
    messages_retry_later,
    messages_wait_for_slot,
)
from .outcomes import (
    WAITING_FOR_TURN,
    Failed,
    RetryLater,
    Sent,
    StatusReport,
    WaitForSlot,
)
from .statuses import messages_apply_statuses

if TYPE_CHECKING:
    from numbers.providers.base import ProviderError


def message_claim(*, message_id: str) -> Message | None:
    """Move a queued message to `sending` for this worker; None if someone else has it."""
    claimed = messages_claim(message_ids=[message_id])
    return claimed[0] if claimed else None


def message_mark_sent(*, message_id: str, provider_sid: str, source: str = "worker") -> Message:
    messages_mark_sent([Sent(message_id, provider_sid)], source=source)
    return Message.objects.select_related("workspace").get(pk=message_id)


def message_fail(*, message: Message, code: str, reason: str, source: str = "worker") -> None:
    messages_fail([Failed(message.id, code, reason)], source=source)


def message_retry_later(*, message: Message, error: "ProviderError", wake: bool = True) -> None:
    """`error`: the carrier's transient refusal (a ProviderError)."""
    messages_retry_later(
        [RetryLater(message.id, message.attempts, error.message, error.code, error.retry_after)], wake=wake
    )


def message_wait_for_slot(*, message: Message, not_before: float, reason: str = WAITING_FOR_TURN) -> bool:
    """Answers whether the message went back (it was still `sending`)."""
    return bool(messages_wait_for_slot([WaitForSlot(message.id, not_before, reason)]))


def message_apply_status(
    *,
    message: Message,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
    provider_sid: str | None = None,
    source: str = "carrier",
) -> bool:
    """Apply one status the carrier reported; answers whether the message moved. A refused
    report (another carrier sid, a never-sent message) raises ValueError."""
    outcome = messages_apply_statuses(
        [StatusReport(message.id, status, error_code, error_message, provider_sid)], source=source
    )
    if outcome.refused:
        raise ValueError(outcome.refused[0])
    return bool(outcome.moved)


def message_cancel(*, message: Message, source: str = "api") -> Message:
    """Cancel a scheduled message; anything already queued or sent cannot be called back."""
    canceled = messages_cancel(message_ids=[message.id], source=source)
    if not canceled:
        status = Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()
        raise DomainError("not_cancelable", f"Only scheduled messages can be canceled; this one is {status}.")
    return canceled[0]


def message_retry(*, message: Message, source: str = "operator") -> Message:
    """Send a failed or undelivered message again (an operator's decision)."""
    requeued = messages_requeue(message_ids=[message.id], source=source)
    if not requeued:
        raise DomainError("not_retryable", "Only failed or undelivered messages can be retried.")
    return requeued[0]
