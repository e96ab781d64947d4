"""Broadcasts: one message to many contacts, rendered per contact, respecting consent, quiet hours,
validity and each sender's pace.

A broadcast is made (draft, scheduled or started at once), then workers turn its audience into
messages. The audience is cut into slices in contact id order (BroadcastSlice), so several workers
can make one broadcast; each slice goes batch after batch, each batch one transaction with the
slice's cursor, so a worker killed mid-broadcast resumes after the last committed batch and no
contact gets the message twice. A batch reads its contacts as plain rows, renders them with the
template compiled once, and on PostgreSQL stores the messages, their conversations and first
events in one statement (messaging/broadcast_store.py): the rules of the send service (sender,
opt-outs checked in that statement, segments, `queued` or `scheduled`) at bulk cost; then the same
`message.created` events and wake-up as any send. Quiet hours hold a message as `scheduled` until
the recipient's local morning; the sweep releases it then like any scheduled message.

The package by part: reading (lists, counts, the API object and events), making (checking and
starting one), rendering (the preview and the per-contact renderer), quiet_hours (recipients' zones
and release times), generation (the workers, slice by slice), delivery_hold (delivery yielding to
them meanwhile) and ending (completion, cancel, the sweep).
"""

from ..models import Broadcast
from .ending import UNFINISHED_STATUSES, broadcast_cancel, broadcasts_sweep, on_platform_events
from .generation import broadcast_generate
from .making import (
    HH_MM,
    MAX_CONTACT_IDS,
    MAX_VALIDITY_SECONDS,
    broadcast_create,
    broadcast_start,
    clean_validity_period,
)
from .quiet_hours import ZONE_PREFIX_DIGITS, recipient_zone, release_time
from .reading import (
    BROADCAST_UPDATED,
    COUNTS_CACHE_SECONDS,
    PROGRESS_INTERVAL_SECONDS,
    access_broadcast,
    audience_contacts,
    broadcast_counts,
    broadcast_data,
    broadcast_list,
)
from .rendering import MAX_SKIPPED_KEPT, SAMPLE_RENDERINGS, broadcast_preview

__all__ = [
    "BROADCAST_UPDATED",
    "COUNTS_CACHE_SECONDS",
    "HH_MM",
    "MAX_CONTACT_IDS",
    "MAX_SKIPPED_KEPT",
    "MAX_VALIDITY_SECONDS",
    "PROGRESS_INTERVAL_SECONDS",
    "SAMPLE_RENDERINGS",
    "UNFINISHED_STATUSES",
    "ZONE_PREFIX_DIGITS",
    "Broadcast",
    "access_broadcast",
    "audience_contacts",
    "broadcast_cancel",
    "broadcast_counts",
    "broadcast_create",
    "broadcast_data",
    "broadcast_generate",
    "broadcast_list",
    "broadcast_preview",
    "broadcast_start",
    "broadcasts_sweep",
    "clean_validity_period",
    "on_platform_events",
    "recipient_zone",
    "release_time",
]
