"""Retention redacts only what is due; redaction on request through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import assert_error
from messaging.models import CarrierEvent, Message, Status, WebhookDelivery, WebhookEndpoint
from messaging.operations.models import RetentionPolicy
from messaging.operations.retention import apply_retention
from workspaces.audit.models import AuditRecord

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def make(
    workspace,
    *,
    days_old: float,
    status=Status.DELIVERED,
    direction="outbound",
    body="Private words",
    **extra,
) -> Message:
    return Message.objects.create(
        workspace=workspace,
        direction=direction,
        status=status,
        to_number="+14155552671",
        from_number="+12025550100",
        body=body,
        media_urls=["https://cdn.example.com/a.jpg"],
        num_segments=2,
        created_at=NOW - timedelta(days=days_old),
        **extra,
    )


def test_retention_redacts_only_what_is_due(workspace, other_workspace):
    RetentionPolicy.objects.create(workspace=workspace, body_retention_days=30)
    old = make(workspace, days_old=31)
    old_inbound = make(workspace, days_old=40, status=Status.RECEIVED, direction="inbound")
    recent = make(workspace, days_old=29)
    still_moving = make(workspace, days_old=60, status=Status.QUEUED)  # would go out empty
    elsewhere = make(other_workspace, days_old=400)  # no policy: kept forever
    event = CarrierEvent.objects.create(
        workspace=workspace,
        provider="twilio",
        kind="inbound",
        dedupe_key="SM1",
        message=old_inbound,
        params={
            "MessageSid": "SM1",
            "Body": "Private words",
            "MediaUrl0": "https://x/y",
            "From": "+14155552671",
        },
    )
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url="https://hooks.example.com/a",
        events=["message.received"],
        secret="whsec_" + "A" * 43,
    )
    delivery = WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_id="evt_1",
        event_type="message.received",
        message_id=old_inbound.pk,
        payload={"id": "evt_1", "data": {"id": old_inbound.pk, "body": "Private words"}},
    )

    assert apply_retention(now=NOW, batch_size=1) == 2  # in batches of one
    for message in (old, old_inbound):
        message.refresh_from_db()
        assert (message.body, message.media_urls) == ("", [])
        assert message.status in (Status.DELIVERED, Status.RECEIVED)  # the counts stay
        assert message.num_segments == 2 and message.to_number == "+14155552671"
    for message in (recent, still_moving, elsewhere):
        message.refresh_from_db()
        assert (message.body, message.media_urls) == ("Private words", ["https://cdn.example.com/a.jpg"])
    event.refresh_from_db()
    assert event.params == {"MessageSid": "SM1", "From": "+14155552671"}
    delivery.refresh_from_db()
    assert delivery.payload["data"]["body"] == ""
    assert apply_retention(now=NOW) == 0  # nothing left to do


def test_retention_can_mask_the_contacts_number(workspace):
    RetentionPolicy.objects.create(workspace=workspace, body_retention_days=7, mask_numbers=True)
    outbound = make(workspace, days_old=8)
    inbound = make(workspace, days_old=8, status=Status.RECEIVED, direction="inbound")
    apply_retention(now=NOW)
    outbound.refresh_from_db()
    inbound.refresh_from_db()
    assert (outbound.to_number, outbound.from_number) == ("+1415555****", "+12025550100")
    assert (inbound.from_number, inbound.to_number) == ("+1202555****", "+14155552671")


def test_the_retention_setting_is_read_by_members_and_set_by_managers(owner_client, member_client, workspace):
    url = f"/api/ui/workspaces/{workspace.pk}/retention"
    assert member_client.get(url).json() == {"body_retention_days": None, "mask_numbers": False}
    response = owner_client.put(url, {"body_retention_days": 90, "mask_numbers": True}, format="json")
    assert response.json() == {"body_retention_days": 90, "mask_numbers": True}
    assert member_client.get(url).json()["body_retention_days"] == 90
    assert_error(member_client.put(url, {"body_retention_days": 1}, format="json"), 403, "forbidden")
    for bad in (
        {"body_retention_days": 0},
        {"body_retention_days": "soon"},
        {"body_retention_days": -3},
        {"mask_numbers": "maybe", "body_retention_days": 5},
    ):
        assert_error(owner_client.put(url, bad, format="json"), 400, "invalid_params")
    assert RetentionPolicy.objects.get(workspace=workspace).body_retention_days == 90
    record = AuditRecord.objects.get(kind="workspace.retention_changed")
    assert record.changes == {"body_retention_days": 90, "mask_numbers": True}


def test_a_message_is_redacted_on_request_through_the_api(
    api_client, owner_client, workspace, other_api_client
):
    message = make(workspace, days_old=0)
    assert_error(other_api_client.post(f"/api/messages/{message.pk}/redact"), 404, "not_found")
    response = api_client.post(f"/api/messages/{message.pk}/redact")
    assert response.status_code == 200, response.content
    assert response.json()["body"] == "" and response.json()["status"] == "delivered"
    message.refresh_from_db()
    assert (message.body, message.media_urls) == ("", [])
    other = make(workspace, days_old=0)
    ui = owner_client.post(f"/api/ui/workspaces/{workspace.pk}/messages/{other.pk}/redact")
    assert ui.status_code == 200 and ui.json()["body"] == ""


def test_a_message_still_moving_cannot_be_redacted(api_client, workspace):
    queued = make(workspace, days_old=0, status=Status.QUEUED)
    assert_error(api_client.post(f"/api/messages/{queued.pk}/redact"), 409, "message_not_final")
    queued.refresh_from_db()
    assert queued.body == "Private words"
    assert_error(api_client.post("/api/messages/msg_missing/redact"), 404, "not_found")
