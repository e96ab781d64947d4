"""Every status change of a message, for one message or many: the one module that writes them.

Each function takes a list (one item for the per-message paths) and, in one transaction, makes
the guarded update in one statement (a status never goes backwards; a message that has moved on
is left alone and not returned), writes the event rows in one multi-row INSERT, and after commit
publishes the changed messages once per workspace (messaging.events), enqueues the status
callbacks of those that have one and, where a message goes back to `queued`, wakes a worker for
it (skip that with `wake=False` when the caller's own loop claims due messages from the table).

Outbound delivery (what a batch delivery engine calls; plain values in, messages out):

    messages_claim_due(limit=n)              queued and due → sending, oldest first, one
                                             `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
                                             LOCKED LIMIT n) RETURNING …`; the attempt is counted
    messages_claim(message_ids=[…])          the same for given ids (the per-message task)
    messages_mark_sent([Sent(id, sid)])      sending/queued → sent with the carrier's sid
    messages_fail([Failed(id, code, reason)])  → failed with the carrier's code (not from a final
                                             status)
    messages_retry_later([RetryLater(id, attempts, reason, code, retry_after)])
                                             sending → queued after a backoff (retry_delay), or
                                             failed once `attempts` reached SEND_MAX_ATTEMPTS
    messages_wait_for_slot([WaitForSlot(id, not_before)])
                                             sending → queued until the pacing slot (epoch
                                             seconds); the attempt is not counted
    messages_fail_over([FailOver(id, account_id, from_number, service_sid, code, reason)])
                                             sending → queued at once on its fallback account,
                                             from that account's sender (the first account
                                             definitely did not take it); once per message

Carrier and operator side:

    messages_apply_statuses([StatusReport(id, status, …)])
                                             carrier callbacks and reconciliation: deduplicated,
                                             in status order, never backwards; refuses a report
                                             whose sid differs from the one the message holds (or
                                             that another message holds) and any report on a
                                             message never handed to the carrier (`scheduled`)
    messages_cancel / messages_requeue       operator, API and broadcast actions (scheduled, or
                                             queued too, → canceled; failed/undelivered → queued
                                             again)
    messages_expire_unsent(…)                sweep: unsent past their validity → failed
    messages_release_scheduled(now=…)        sweep: due scheduled → queued
    messages_requeue_abandoned([(id, claimed_at)])
                                             sweep: a dead worker's claim → queued, after the
                                             carrier look-up found nothing (see sweeps.py)

Message creation (the accept path) stays in sending.py.

The package, by part: outcomes (the value types above and the order of statuses), writes (the
history rows, counts, publishes, callbacks and wake-ups every change shares), delivery, statuses,
actions (operator, API and sweep changes), single (the one-message forms) and sql (the statement
helpers).
"""

from .actions import (
    messages_cancel,
    messages_expire_unsent,
    messages_release_scheduled,
    messages_requeue,
    messages_requeue_abandoned,
)
from .delivery import (
    messages_announce_sending,
    messages_claim,
    messages_claim_due,
    messages_fail,
    messages_fail_over,
    messages_mark_sent,
    messages_retry_later,
    messages_wait_for_slot,
    retry_delay,
)
from .outcomes import (
    STATUS_RANK,
    WAITING_FOR_TURN,
    Failed,
    FailOver,
    RetryLater,
    Sent,
    StatusOutcome,
    StatusReport,
    WaitForSlot,
)
from .single import (
    message_apply_status,
    message_cancel,
    message_claim,
    message_fail,
    message_mark_sent,
    message_retry,
    message_retry_later,
    message_wait_for_slot,
)
from .sql import json_rows
from .statuses import messages_apply_statuses

__all__ = [
    "STATUS_RANK",
    "WAITING_FOR_TURN",
    "FailOver",
    "Failed",
    "RetryLater",
    "Sent",
    "StatusOutcome",
    "StatusReport",
    "WaitForSlot",
    "json_rows",
    "message_apply_status",
    "message_cancel",
    "message_claim",
    "message_fail",
    "message_mark_sent",
    "message_retry",
    "message_retry_later",
    "message_wait_for_slot",
    "messages_announce_sending",
    "messages_apply_statuses",
    "messages_cancel",
    "messages_claim",
    "messages_claim_due",
    "messages_expire_unsent",
    "messages_fail",
    "messages_fail_over",
    "messages_mark_sent",
    "messages_release_scheduled",
    "messages_requeue",
    "messages_requeue_abandoned",
    "messages_retry_later",
    "messages_wait_for_slot",
    "retry_delay",
]
