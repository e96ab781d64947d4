"""What the delivery engine, the carriers' adapters and the sweeps tell the lifecycle, in its words:
the order of statuses and one small value type for each kind of change."""

from dataclasses import dataclass, field

from ..models import Message, Status

# Order of progress: a status never moves to one of lower or equal rank.
STATUS_RANK: dict[str, int] = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.CANCELED: 4,
    Status.RECEIVED: 4,
}


@dataclass(frozen=True)
class Sent:
    message_id: str
    provider_sid: str


@dataclass(frozen=True)
class Failed:
    message_id: str
    code: str
    reason: str


@dataclass(frozen=True)
class RetryLater:
    """A transient refusal. `attempts`: the message's attempts so far (as claimed)."""

    message_id: str
    attempts: int
    reason: str
    code: str | None = None
    retry_after: float | None = None  # what the carrier asked for, in seconds


WAITING_FOR_TURN = "Waiting for the sender's turn."


@dataclass(frozen=True)
class WaitForSlot:
    message_id: str
    not_before: float  # epoch seconds
    reason: str = WAITING_FOR_TURN


@dataclass(frozen=True)
class FailOver:
    """The carrier account definitely did not take the message: its fallback account sends it,
    from `from_number` (or the Messaging Service `messaging_service_sid`)."""

    message_id: str
    account_id: int  # the fallback account
    from_number: str
    messaging_service_sid: str
    code: str | None
    reason: str  # why the first account did not take it, and where it goes now


@dataclass(frozen=True)
class StatusReport:
    """A status the carrier reported (callback, receipt or look-up), in platform words."""

    message_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    provider_sid: str | None = None


@dataclass
class StatusOutcome:
    """What messages_apply_statuses did: the messages it moved, and the reports it refused
    (index in the input → why), which will never apply."""

    moved: list[Message] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
