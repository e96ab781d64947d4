"""Alerts fire once per incident and say when they clear, on a frozen clock (each evaluation is
given its moment)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from conftest import assert_error
from messaging.models import Message, Status, WebhookDelivery, WebhookEndpoint
from messaging.operations.alerts import evaluate_alerts
from messaging.operations.models import AlertRule
from workspaces.audit.models import AuditRecord

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def finished(workspace, status: str, at: datetime, *, error_code: str | None = None, count: int = 1) -> None:
    for _ in range(count):
        message = Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number="+14155552671",
            from_number="+12025550100",
            body="x",
            error_code=error_code,
            created_at=at,
        )
        Message.objects.filter(pk=message.pk).update(updated_at=at)  # when it finished


@pytest.fixture
def endpoint(workspace):
    return WebhookEndpoint.objects.create(
        workspace=workspace,
        url="https://hooks.example.com/alerts",
        secret="whsec_" + "A" * 43,
        events=["alert.delivery_rate_dropped", "alert.carrier_errors", "alert.queue_backlog"],
    )


def alert_payloads(workspace) -> list[dict]:
    deliveries = WebhookDelivery.objects.filter(workspace=workspace).order_by("created_at", "pk")
    return [delivery.payload for delivery in deliveries]


def test_a_delivery_rate_alert_fires_once_and_says_when_it_clears(
    workspace, other_workspace, endpoint, django_capture_on_commit_callbacks
):
    rule = AlertRule.objects.create(
        workspace=workspace,
        kind="delivery_rate",
        threshold=0.9,
        window_minutes=15,
        min_messages=5,
        email="ops@example.com",
    )
    finished(workspace, Status.DELIVERED, T0, count=5)
    finished(workspace, Status.FAILED, T0, error_code="30003", count=5)
    finished(other_workspace, Status.DELIVERED, T0, count=50)  # another workspace counts for nothing

    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_alerts(now=T0 + timedelta(minutes=1)) == [(rule.id, "firing")]
        # Still bad a minute later: the same incident, nothing new.
        assert evaluate_alerts(now=T0 + timedelta(minutes=2)) == []
        # Good sends only in the window from here on.
        finished(workspace, Status.DELIVERED, T0 + timedelta(minutes=20), count=10)
        assert evaluate_alerts(now=T0 + timedelta(minutes=21)) == [(rule.id, "resolved")]
        assert evaluate_alerts(now=T0 + timedelta(minutes=22)) == []

    payloads = alert_payloads(workspace)
    assert [(p["type"], p["data"]["state"]) for p in payloads] == [
        ("alert.delivery_rate_dropped", "firing"),
        ("alert.delivery_rate_dropped", "resolved"),
    ]
    assert payloads[0]["data"]["value"] == 0.5
    assert payloads[1]["data"]["since"] == (T0 + timedelta(minutes=1)).isoformat()
    assert [m.subject for m in mail.outbox] == [
        "[Acme] Alert fired: Delivery rate under a threshold",
        "[Acme] Alert cleared: Delivery rate under a threshold",
    ]
    assert mail.outbox[0].to == ["ops@example.com"]


def test_too_few_messages_are_not_judged(workspace, endpoint):
    AlertRule.objects.create(workspace=workspace, kind="delivery_rate", threshold=0.9, min_messages=20)
    finished(workspace, Status.FAILED, T0, count=3)
    assert evaluate_alerts(now=T0 + timedelta(minutes=1)) == []


def test_a_carrier_error_code_spike_fires_for_that_code_only(workspace, endpoint):
    rule = AlertRule.objects.create(
        workspace=workspace, kind="carrier_errors", threshold=3, window_minutes=5, error_code="30007"
    )
    finished(workspace, Status.UNDELIVERED, T0, error_code="30003", count=10)
    assert evaluate_alerts(now=T0) == []
    finished(workspace, Status.UNDELIVERED, T0, error_code="30007", count=3)
    assert evaluate_alerts(now=T0 + timedelta(minutes=1)) == [(rule.id, "firing")]
    assert evaluate_alerts(now=T0 + timedelta(minutes=7)) == [(rule.id, "resolved")]  # out of window
    assert [p["type"] for p in alert_payloads(workspace)] == ["alert.carrier_errors"] * 2


def test_a_queue_backlog_alert_fires_when_sends_wait_too_long(workspace, endpoint):
    rule = AlertRule.objects.create(workspace=workspace, kind="queue_backlog", threshold=120)
    waiting = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status=Status.QUEUED,
        to_number="+14155552671",
        from_number="+12025550100",
        body="x",
        created_at=T0,
    )
    assert evaluate_alerts(now=T0 + timedelta(seconds=60)) == []
    assert evaluate_alerts(now=T0 + timedelta(seconds=180)) == [(rule.id, "firing")]
    Message.objects.filter(pk=waiting.pk).update(status=Status.SENT)
    assert evaluate_alerts(now=T0 + timedelta(seconds=240)) == [(rule.id, "resolved")]
    assert alert_payloads(workspace)[0]["data"]["value"] == 180


def test_alert_rules_through_the_api(owner_client, member_client, workspace):
    url = f"/api/ui/workspaces/{workspace.pk}/alerts"
    created = owner_client.post(
        url, {"kind": "queue_backlog", "threshold": 300, "email": "ops@example.com"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert member_client.get(url).json()["data"][0]["id"] == created.json()["id"]
    assert_error(
        member_client.post(url, {"kind": "queue_backlog", "threshold": 1}, format="json"), 403, "forbidden"
    )
    for bad in (
        {"kind": "nonsense", "threshold": 1},
        {"kind": "delivery_rate", "threshold": 5},
        {"kind": "queue_backlog", "threshold": -1},
        {"kind": "queue_backlog", "threshold": 1, "email": "not-an-email"},
    ):
        assert_error(owner_client.post(url, bad, format="json"), 400, "invalid_params")
    assert_error(owner_client.post(url, {"kind": "queue_backlog"}, format="json"), 400, "missing_params")
    assert AlertRule.objects.count() == 1
    assert owner_client.delete(f"{url}/{created.json()['id']}").status_code == 204
    assert_error(owner_client.delete(f"{url}/{created.json()['id']}"), 404, "not_found")
    assert list(
        AuditRecord.objects.filter(kind__startswith="workspace.alert")
        .values_list("kind", flat=True)
        .order_by("created_at")
    ) == ["workspace.alert_added", "workspace.alert_removed"]
