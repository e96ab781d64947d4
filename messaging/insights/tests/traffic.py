"""Messages moved through the real services, and the counts they leave, for the insights tests."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from messaging import carrier_events, lifecycle
from messaging.carrier_intake import carrier_event_store, intake_event
from messaging.insights.models import COUNT_COLUMNS, LATENCY_COLUMNS, InsightCount
from messaging.lifecycle import Failed, RetryLater, Sent, StatusReport
from messaging.models import Message, Status

OURS, OTHER_SENDER = "+12015550123", "+12015550999"
US, GB = "+14155552671", "+447400123456"


def make(workspace, *, to=US, sender=OURS, n=1, status=Status.SENDING, created_at=None) -> list[Message]:
    created_at = created_at or timezone.now()
    messages = [
        Message(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number=to,
            from_number=sender,
            body=f"m{i}",
            created_at=created_at + timedelta(microseconds=i),
        )
        for i in range(n)
    ]
    Message.objects.bulk_create(messages)
    return messages


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def counts(workspace) -> dict:
    """Every counter row of the workspace, the slots summed, without the zero columns."""
    found = defaultdict(lambda: defaultdict(int))
    for row in InsightCount.objects.filter(workspace=workspace).values():
        key = (row["daily"], row["bucket"], row["dimension"], row["key"])
        for column in (*COUNT_COLUMNS, *LATENCY_COLUMNS):
            found[key][column] += row[column]
    return {key: {c: v for c, v in columns.items() if v} for key, columns in found.items()}


def receive(workspace, body: str, *, sender=US, to=OURS, sid: str) -> None:
    event = intake_event(
        workspace_id=workspace.pk,
        provider="simulator",
        kind="inbound",
        payload={
            "provider_sid": sid,
            "from_number": sender,
            "to_number": to,
            "body": body,
            "media_urls": [],
            "messaging_service_sid": "",
        },
    )
    carrier_event_store(event)
    carrier_events.carrier_events_apply()


def move_a_day_of_traffic(workspace, clock, *, tag: str = "") -> None:
    """Sends, deliveries, failures and replies over several hours, through the real services."""
    start = clock["now"]
    a = make(workspace, n=3, created_at=start)
    b = make(workspace, to=GB, sender=OTHER_SENDER, n=2, created_at=start)
    lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in a + b])
    clock["now"] = start + timedelta(seconds=4)
    lifecycle.messages_apply_statuses(
        [StatusReport(a[0].id, Status.DELIVERED), StatusReport(b[0].id, Status.DELIVERED)]
    )
    clock["now"] = start + timedelta(minutes=15)  # the next hour
    lifecycle.messages_apply_statuses(
        [
            StatusReport(a[1].id, Status.DELIVERED),
            StatusReport(a[2].id, Status.UNDELIVERED, "30003", "Unreachable"),
            StatusReport(b[1].id, Status.UNDELIVERED, "40008", "Undeliverable"),
        ]
    )
    refused = make(workspace, n=2, created_at=clock["now"])
    lifecycle.messages_fail([Failed(refused[0].id, "21211", "Invalid 'To' number")])
    lifecycle.messages_retry_later([RetryLater(refused[1].id, settings.SEND_MAX_ATTEMPTS, "busy", "30001")])
    clock["now"] = start + timedelta(hours=3)
    lifecycle.messages_requeue(message_ids=[a[2].id], wake=False)  # an operator sends it again
    lifecycle.messages_claim(message_ids=[a[2].id])
    lifecycle.messages_mark_sent([Sent(a[2].id, f"SM2{a[2].id}")])
    receive(workspace, "Thanks!", sid=f"SMin1{tag}")
    receive(workspace, "STOP", sender=GB, sid=f"SMin2{tag}")
