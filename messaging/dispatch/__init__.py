"""The delivery engine: outbound messages to the carrier many at a time, from the messages table.

The messages table is the queue of record. A round claims up to DISPATCH_BATCH_SIZE due messages
in one statement (`lifecycle.messages_claim_due`: `queued` → `sending`, rows another worker holds
skipped), reserves each sender's pacing slots in one Redis trip per sender, sends the messages
concurrently on one event loop per process (the adapter's `send_async`, keep-alive connections
per account), and writes every outcome back in one transaction through the lifecycle module: one
UPDATE per kind of outcome from a VALUES list, one multi-row INSERT of events, one publish per
workspace. The claim, the lease and the carrier look-up before a resend (messaging.sweeps) keep
each message sent once through crashes: a worker that dies mid-round leaves its messages
`sending`, and the sweep asks the carrier about them once their lease has run out.

Runners: a Celery task (`messaging.tasks.dispatch`) runs rounds while messages are due, at most
DISPATCH_RUNNERS at a time across all workers, and is started by a coalesced wake-up
(messaging.wakeup) when messages are accepted or come due, by beat every DISPATCH_TICK_SECONDS as
the backstop, and by the sweep. A runner at work holds the wake-up (accepts then wake no task, and
the tick leaves the work to it) and pauses briefly after a short round, so that under a trickle of
accepts one runner sends them in rounds that gather rather than one by one. Carrier accounts whose
sends a process of its own makes (an SMPP bind lives in one) are left to it: Celery's rounds skip
those providers (DISPATCH_OWN_PROCESS_PROVIDERS), and that process runs the same rounds from threads
of its own (`serve_rounds`, scoped to the accounts it holds), its adapter's `send_async` on this
process's send loop, with the adapter's round hooks (Capability.ROUND_HOOKS) for what it keeps
beside a message.
"""

from .jobs import Outcomes
from .loop import event_loop, run_on_loop
from .round import deliver, dispatch_messages, dispatch_round, status_callback_url
from .runners import next_due_in, run_eagerly, run_rounds, serve_rounds
from .scope import Scope, celery_scope
from .sends import URGENT_RATE, WRITE_SLACK_SECONDS

__all__ = [
    "URGENT_RATE",
    "WRITE_SLACK_SECONDS",
    "Outcomes",
    "Scope",
    "celery_scope",
    "deliver",
    "dispatch_messages",
    "dispatch_round",
    "event_loop",
    "next_due_in",
    "run_eagerly",
    "run_on_loop",
    "run_rounds",
    "serve_rounds",
    "status_callback_url",
]
