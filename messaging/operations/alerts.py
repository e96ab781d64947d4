"""Alerts: each rule is evaluated by beat every minute; a rule that starts to hold fires once
(`state: "firing"`) and tells the workspace's endpoints subscribed to its `alert.*` event and its
email, and says so again when it stops holding (`state: "resolved"`). Nothing more in between:
one notice per incident, one when it clears."""

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from messaging import event_webhooks
from messaging.models import Message, Status, WebhookEventType
from messaging_platform.ids import new_id

from .models import AlertKind, AlertRule

logger = logging.getLogger(__name__)

EVENT_TYPES: dict[str, WebhookEventType] = {
    AlertKind.DELIVERY_RATE: WebhookEventType.ALERT_DELIVERY_RATE_DROPPED,
    AlertKind.CARRIER_ERRORS: WebhookEventType.ALERT_CARRIER_ERRORS,
    AlertKind.QUEUE_BACKLOG: WebhookEventType.ALERT_QUEUE_BACKLOG,
}
FINISHED = [Status.DELIVERED, Status.UNDELIVERED, Status.FAILED]


def measure(rule: AlertRule, now) -> tuple[float | None, bool]:
    """(the value the rule watches, whether the rule holds now). None: not enough to judge."""
    since = now - timedelta(minutes=rule.window_minutes)
    outbound_messages = Message.objects.for_workspace(rule.workspace).filter(direction="outbound")
    if rule.kind == AlertKind.DELIVERY_RATE:
        counts = outbound_messages.filter(
            updated_at__gte=since, updated_at__lte=now, status__in=FINISHED
        ).aggregate(total=Count("pk"), delivered=Count("pk", filter=Q(status=Status.DELIVERED)))
        if counts["total"] < max(1, rule.min_messages):
            return None, False
        rate = counts["delivered"] / counts["total"]
        return rate, rate < rule.threshold
    if rule.kind == AlertKind.CARRIER_ERRORS:
        errors = outbound_messages.filter(
            updated_at__gte=since, updated_at__lte=now, status__in=[Status.UNDELIVERED, Status.FAILED]
        )
        errors = (
            errors.filter(error_code=rule.error_code)
            if rule.error_code
            else errors.exclude(error_code__isnull=True)
        )
        count = errors.count()
        return count, count >= rule.threshold
    oldest = outbound_messages.filter(status=Status.QUEUED).aggregate(
        due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
        created=Min("created_at", filter=Q(next_attempt_at__isnull=True)),
    )
    due = min([moment for moment in oldest.values() if moment is not None], default=None)
    waited = (now - due).total_seconds() if due else 0.0
    return waited, waited > rule.threshold


def _notify(rule: AlertRule, state: str, value: float | None, now) -> None:
    event_type = EVENT_TYPES[rule.kind]
    data = {
        "alert_id": rule.id,
        "workspace_id": rule.workspace_id,
        "kind": rule.kind,
        "state": state,
        "threshold": rule.threshold,
        "value": value,
        "window_minutes": rule.window_minutes,
        "error_code": rule.error_code or None,
        "since": rule.firing_since.isoformat() if rule.firing_since else None,
        "at": now.isoformat(),
    }
    endpoint_ids = [
        pk for pk, types in event_webhooks.subscribed_endpoints(rule.workspace_id) if event_type in types
    ]
    if endpoint_ids:
        event_webhooks._create_deliveries(
            rule.workspace_id, endpoint_ids, event_id=new_id("evt"), event_type=event_type, data=data
        )
    if rule.email:
        verb = "fired" if state == "firing" else "cleared"
        transaction.on_commit(
            lambda: send_mail(
                subject=f"[{rule.workspace.name}] Alert {verb}: {rule.get_kind_display()}",
                message=(
                    f"{rule.get_kind_display()} {verb} at {now:%Y-%m-%d %H:%M} UTC.\n"
                    f"Value: {value}; threshold: {rule.threshold}; window: {rule.window_minutes} min."
                    + (f"\nError code: {rule.error_code}" if rule.error_code else "")
                ),
                from_email=None,
                recipient_list=[rule.email],
                fail_silently=True,
            )
        )


def evaluate_alerts(*, now=None) -> list[tuple[str, str]]:
    """Evaluate every rule; answers the (rule id, "firing" | "resolved") notices sent."""
    now = now or timezone.now()
    notices = []
    for rule_id in AlertRule.objects.values_list("pk", flat=True):
        with transaction.atomic():
            rule = (
                AlertRule.objects.select_for_update(skip_locked=True)
                .select_related("workspace")
                .filter(pk=rule_id)
                .first()
            )
            if rule is None:
                continue
            value, holds = measure(rule, now)
            rule.last_value = value
            if holds and rule.firing_since is None:
                rule.firing_since = now
                _notify(rule, "firing", value, now)
                notices.append((rule.id, "firing"))
            elif not holds and rule.firing_since is not None and value is not None:
                _notify(rule, "resolved", value, now)
                rule.firing_since = None
                notices.append((rule.id, "resolved"))
            rule.save(update_fields=["firing_since", "last_value"])
    return notices
