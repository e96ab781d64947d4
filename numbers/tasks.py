"""Celery tasks of the telephony side."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from numbers.providers.simulator import emit_events


@shared_task(ignore_result=True)
def simulator_emit_events(workspace_id: str, events: list[dict[str, Any]], delay: float) -> None:
    """Emit the simulator's next event, and schedule the rest one delay apart (so they keep order)."""
    if not events:
        return
    emit_events(workspace_id, events[:1])
    if len(events) > 1:
        simulator_emit_events.apply_async((workspace_id, events[1:], delay), countdown=delay)


@shared_task(ignore_result=True)
def smpp_expire_inbound_parts() -> int:
    """Beat: MO messages over SMPP whose parts stopped arriving are taken in as they are."""
    from numbers.providers.smpp.store import expire_inbound_parts

    return expire_inbound_parts()
