"""The record side of carrier webhooks: payloads PostgreSQL cannot store as sent (NUL), media
links that are not http(s), the verification cache, and the Redis stream drained into PostgreSQL."""

import pytest
from django.conf import settings
from django.core.cache import cache

from conftest import require_service
from messaging.carrier_intake import STREAM, carrier_intake_drain, intake_event
from messaging.models import CarrierEvent, Message, Status
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import inbound_params, signature_headers, status_params
from numbers.webhook_accounts import webhook_account

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"


@pytest.fixture
def post_webhook(client, twilio_account, django_capture_on_commit_callbacks):
    def post(path: str, params: dict):
        headers = signature_headers("http://testserver" + path, params, twilio_account.auth_token)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, params, headers=headers)

    return post


@pytest.fixture
def sent_message(api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "Hi"}, format="json")
    assert response.status_code == 201
    return Message.objects.get(pk=response.json()["id"])


def test_a_signed_inbound_with_nul_in_its_body_is_kept_without_the_nul(twilio_workspace, post_webhook):
    params = inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="a\x00b\x00")
    response = post_webhook(f"/webhooks/twilio/{twilio_workspace.id}/inbound", params)
    assert response.status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.body == "ab"
    assert CarrierEvent.objects.get().params["Body"] == "ab"


def test_a_status_callback_with_nul_in_its_error_code_is_applied(sent_message, post_webhook):
    params = status_params(
        message_sid=sent_message.provider_sid, status="undelivered", error_code="300\x0003"
    )
    response = post_webhook(
        f"/webhooks/twilio/{sent_message.workspace_id}/status?message_id={sent_message.id}", params
    )
    assert response.status_code == 204
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.UNDELIVERED, "30003")


def test_inbound_media_keeps_only_http_links(twilio_workspace, post_webhook):
    params = inbound_params(
        from_number=CONTACT,
        to_number=TWILIO_LONG_CODE,
        body="Look",
        media_urls=[
            "javascript:alert(5)",
            "https://media.example/a.jpg",
            "data:text/html,<script>1</script>",
            " JAVASCRIPT:x",
            "http://media.example/b.png",
            "file:///etc/passwd",
        ],
    )
    response = post_webhook(f"/webhooks/twilio/{twilio_workspace.id}/inbound", params)
    assert response.status_code == 200
    assert Message.objects.get().media_urls == ["https://media.example/a.jpg", "http://media.example/b.png"]


def test_an_unknown_carrier_or_route_is_a_json_404(twilio_workspace, client):
    for path in (
        f"/webhooks/nocarrier/{twilio_workspace.id}/inbound",
        f"/webhooks/twilio/{twilio_workspace.id}/nothing",
        f"/webhooks/simulator/{twilio_workspace.id}/inbound",
    ):
        response = client.post(path, {"Body": "x"})
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert not CarrierEvent.objects.exists()


def test_the_verification_account_is_cached_with_its_secret_encrypted(twilio_workspace, twilio_account):
    require_service("Redis", bool(settings.REDIS_URL))
    account = webhook_account(workspace_id=twilio_workspace.id, provider="twilio")
    assert account.auth_token == twilio_account.auth_token
    cached = cache.get(f"carrier-webhook-accounts:{twilio_workspace.id}")
    assert cached[account.uid]["account_sid"] == twilio_account.sid
    assert twilio_account.auth_token not in repr(cached)  # Fernet ciphertext only


def test_events_kept_in_redis_are_drained_into_postgresql_once(
    twilio_workspace, sent_message, django_capture_on_commit_callbacks
):
    require_service("Redis", bool(settings.REDIS_URL))
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(STREAM)
    inbound = intake_event(
        workspace_id=twilio_workspace.id,
        provider="twilio",
        kind="inbound",
        payload=inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="While you were away"),
    )
    status = intake_event(
        workspace_id=twilio_workspace.id,
        provider="twilio",
        kind="status",
        payload=status_params(message_sid=sent_message.provider_sid, status="delivered"),
        message_id=sent_message.id,
    )
    for event in (inbound, status, inbound):  # the carrier retried the inbound one
        client.xadd(STREAM, {"event": event.as_json()})
    client.xadd(STREAM, {"event": "not json"})

    with django_capture_on_commit_callbacks(execute=True):
        assert carrier_intake_drain() == 3
    assert client.xlen(STREAM) == 0
    assert CarrierEvent.objects.count() == 2
    assert Message.objects.get(direction="inbound").body == "While you were away"
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
