from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, MessageEvent, OptOut, Status
from messaging.tests.conftest import CONTACT, OUR_NUMBER

pytestmark = pytest.mark.django_db

DOCUMENTED_FIELDS = ["id", "direction", "to", "from", "body", "status", "provider_sid", "created_at"]


def test_a_send_answers_201_with_the_documented_message_object(
    api_client, our_number, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "Hi"}, format="json")
    assert response.status_code == 201
    message = response.json()
    assert list(message)[: len(DOCUMENTED_FIELDS)] == DOCUMENTED_FIELDS
    assert message["id"].startswith("msg_") and message["sid"] == message["id"]
    assert message["status"] == "queued"
    assert message["direction"] == "outbound"
    assert (message["to"], message["from"], message["body"]) == (CONTACT, OUR_NUMBER, "Hi")
    assert message["provider_sid"] is None
    assert message["num_segments"] == 1 and message["encoding"] == "GSM-7"
    assert message["created_at"].endswith("Z")


def test_a_sent_message_goes_through_the_simulator_to_delivered(send):
    response = send(body="Your order shipped")
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Status.DELIVERED
    assert message.provider_sid.startswith("SM")
    assert message.sent_at and message.delivered_at
    statuses = list(MessageEvent.objects.filter(message=message).values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sent", "delivered"]


def test_the_message_can_be_read_back_with_its_final_status(send, api_client):
    message_id = send().json()["id"]
    detail = api_client.get(f"/api/messages/{message_id}")
    assert detail.status_code == 200
    assert detail.json()["status"] == "delivered"
    assert detail.json()["provider_sid"].startswith("SM")


def test_mms_and_unicode_bodies_are_counted(send):
    response = send(body="Ça marche 👍" * 10, mediaUrl="https://example.com/cat.jpg")
    body = response.json()
    assert body["encoding"] == "UCS-2"
    assert body["num_segments"] == 2  # 110 characters and 10 surrogate pairs: 120 units, 67 a part
    assert body["media_urls"] == ["https://example.com/cat.jpg"]


def test_media_alone_is_enough(send):
    response = send(body="", media_urls=["https://example.com/a.png", "http://example.com/b.png"])
    assert response.status_code == 201
    assert len(response.json()["media_urls"]) == 2


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"to": None, "body": "x"}, "invalid_params", "to"),
        ({"body": "no recipient"}, "missing_params", "to"),
        ({"to": CONTACT}, "missing_params", "body"),
        ({"to": CONTACT, "body": ""}, "missing_params", "body"),
        ({"to": "555-1234", "body": "x"}, "invalid_phone_number", "to"),
        ({"to": "+1415555267", "body": "x"}, "invalid_phone_number", "to"),
        ({"to": 14155552671, "body": "x"}, "invalid_phone_number", "to"),
        ({"to": CONTACT, "body": "x" * 1601}, "invalid_params", "body"),
        ({"to": CONTACT, "body": ["x"]}, "invalid_params", "body"),
        ({"to": CONTACT, "body": "x", "mediaUrl": "ftp://example.com/a.png"}, "invalid_params", "mediaUrl"),
        ({"to": CONTACT, "body": "x", "mediaUrl": "not a url"}, "invalid_params", "mediaUrl"),
        (
            {"to": CONTACT, "body": "x", "mediaUrl": [f"https://e.com/{n}.png" for n in range(11)]},
            "invalid_params",
            "mediaUrl",
        ),
        ({"to": CONTACT, "body": "x", "from": "+13125550100"}, "from_number_not_allowed", "from"),
        ({"to": CONTACT, "body": "x", "from": "nope"}, "invalid_phone_number", "from"),
        (
            {"to": CONTACT, "body": "x", "status_callback": "javascript:alert(1)"},
            "invalid_params",
            "status_callback",
        ),
        ({"to": CONTACT, "body": "x", "scheduled_at": "yesterday"}, "invalid_params", "scheduled_at"),
    ],
)
def test_it_rejects_bad_sends_without_storing_anything(
    api_client, our_number, other_number, body, code, field
):
    response = api_client.post("/api/messages", body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["error"] == code
    assert payload["detail"]
    assert field in payload.get("fields", {}), payload
    assert not Message.objects.exists()


def test_scheduled_times_must_be_future_and_within_35_days(send):
    past = send(scheduled_at=(timezone.now() - timedelta(minutes=1)).isoformat())
    far = send(scheduled_at=(timezone.now() + timedelta(days=36)).isoformat())
    assert past.status_code == far.status_code == 400
    assert not Message.objects.exists()


def test_a_workspace_without_a_carrier_account_gets_provider_not_configured(api_client):
    response = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "provider_not_configured"


def test_an_opted_out_recipient_is_refused(send, workspace):
    OptOut.objects.create(workspace=workspace, phone_number=CONTACT, keyword="STOP")
    response = send()
    assert response.status_code == 400
    assert response.json()["error"] == "recipient_opted_out"
    assert not Message.objects.exists()


def test_a_number_that_cannot_send_mms_is_refused_for_media(send, our_number):
    our_number.mms_enabled = False
    our_number.save()
    response = send(mediaUrl="https://example.com/a.png")
    assert response.status_code == 400
    assert response.json()["error"] == "from_number_not_allowed"


def test_malformed_json_and_wrong_content_types_are_4xx(api_client, our_number):
    bad = api_client.post("/api/messages", "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_params"
    form = api_client.post("/api/messages", {"to": CONTACT, "body": "x"})  # multipart
    assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"
    listing = api_client.post("/api/messages", ["to"], format="json")
    assert listing.status_code == 400


def test_the_same_idempotency_key_sends_once(send):
    first = send(headers={"HTTP_IDEMPOTENCY_KEY": "order-42"})
    again = send(headers={"HTTP_IDEMPOTENCY_KEY": "order-42"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    conflict = send(body="something else", headers={"HTTP_IDEMPOTENCY_KEY": "order-42"})
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "idempotency_conflict"


def test_a_scheduled_message_waits_then_the_sweep_sends_it(
    send, api_client, django_capture_on_commit_callbacks
):
    when = timezone.now() + timedelta(hours=1)
    response = send(scheduled_at=when.isoformat())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["scheduled_at"]
    message = Message.objects.get(pk=body["id"])
    assert message.status == Status.SCHEDULED  # nothing sent yet

    from messaging.sweeps import sweep_messages

    Message.objects.filter(pk=message.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        sweep_messages()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


def test_a_scheduled_message_can_be_canceled_once(send, api_client):
    message_id = send(scheduled_at=(timezone.now() + timedelta(hours=1)).isoformat()).json()["id"]
    canceled = api_client.post(f"/api/messages/{message_id}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = api_client.post(f"/api/messages/{message_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == "not_cancelable"


def test_a_sent_message_cannot_be_canceled(send, api_client):
    message_id = send().json()["id"]
    response = api_client.post(f"/api/messages/{message_id}/cancel")
    assert response.status_code == 409


def test_preview_counts_and_validates_without_sending(api_client, our_number):
    response = api_client.post("/api/messages/preview", {"to": CONTACT, "body": "€" * 81}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "characters": 81,
        "num_segments": 2,
        "encoding": "GSM-7",
        "errors": {},
    }
    invalid = api_client.post("/api/messages/preview", {"to": "nope", "body": "hi"}, format="json")
    assert invalid.json()["valid"] is False
    assert "to" in invalid.json()["errors"]
    assert not Message.objects.exists()


def test_another_workspace_cannot_read_or_cancel_my_messages(send, other_api_client):
    message_id = send().json()["id"]
    assert other_api_client.get(f"/api/messages/{message_id}").status_code == 404
    assert other_api_client.post(f"/api/messages/{message_id}/cancel").status_code == 404
    assert other_api_client.get("/api/messages").json()["data"] == []


def test_the_message_object_is_the_serializers_to_the_letter(send, workspace):
    from datetime import UTC, datetime

    from messaging.models import Message
    from messaging.serializers import MessageSerializer, message_data

    response = send(body="Ça va? 👍", mediaUrl="https://example.com/cat.jpg")
    message = Message.objects.get(pk=response.json()["id"])
    assert list(response.json()) == list(MessageSerializer(message).data)
    assert MessageSerializer(message).data == message_data(message)
    message.status, message.provider_sid, message.error_code = "failed", "SM1", "30003"
    message.error_message, message.from_number = "Unreachable", ""
    message.sent_at = message.delivered_at = datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)
    assert dict(MessageSerializer(message).data) == message_data(message)
    assert list(message_data(message)) == list(MessageSerializer(message).data)
