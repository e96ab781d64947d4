"""The message pipeline against the fake Twilio over HTTP, with the real twilio library."""

import pytest

from messaging.models import CarrierEvent, ConsentEvent, Conversation, Message, OptOut, Status
from messaging_platform.testing.fixtures import (
    TWILIO_LONG_CODE,
    TWILIO_POOL_NUMBER,
    TWILIO_SERVICE_SID,
)
from messaging_platform.testing.twilio_params import inbound_params, signature_headers, status_params
from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"


@pytest.fixture
def post_webhook(client, twilio_account, django_capture_on_commit_callbacks):
    """POST a webhook signed with the account's Auth Token, as Twilio does."""

    def post(path: str, params: dict, *, token: str | None = None, signature: str | None = None):
        url = "http://testserver" + path
        headers = signature_headers(url, params, token or twilio_account.auth_token)
        if signature is not None:
            headers = {"X-Twilio-Signature": signature} if signature else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, params, headers=headers)

    return post


@pytest.fixture
def sent_message(api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "Hi there"}, format="json")
    assert response.status_code == 201
    return Message.objects.get(pk=response.json()["id"])


def status_path(workspace, message=None) -> str:
    path = f"/webhooks/twilio/{workspace.id}/status"
    return f"{path}?message_id={message.id}" if message else path


def test_a_message_reaches_the_carrier_with_our_status_callback(sent_message, fake_twilio):
    [received] = fake_twilio.wait_for_messages(1)
    assert (received.to, received.from_number, received.body) == (CONTACT, TWILIO_LONG_CODE, "Hi there")
    assert received.status_callback.endswith(
        f"/webhooks/twilio/{sent_message.workspace_id}/status?message_id={sent_message.id}"
    )
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT
    assert sent_message.provider_sid == received.sid


def test_signed_status_callbacks_move_the_message_to_delivered(sent_message, post_webhook):
    path = status_path(sent_message.workspace, sent_message)
    params = status_params(
        message_sid=sent_message.provider_sid,
        status="delivered",
        to_number=CONTACT,
        from_number=TWILIO_LONG_CODE,
    )
    response = post_webhook(path, params)
    assert response.status_code == 204
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
    assert sent_message.delivered_at is not None


def test_a_late_sent_callback_does_not_undo_delivered(sent_message, post_webhook):
    path = status_path(sent_message.workspace, sent_message)
    sid = sent_message.provider_sid
    post_webhook(path, status_params(message_sid=sid, status="delivered"))
    post_webhook(path, status_params(message_sid=sid, status="sent"))
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


def test_a_duplicate_callback_changes_nothing(sent_message, post_webhook):
    path = status_path(sent_message.workspace, sent_message)
    params = status_params(message_sid=sent_message.provider_sid, status="delivered")
    post_webhook(path, params)
    before = sent_message.events.count()
    again = post_webhook(path, params)
    assert again.status_code == 204
    assert CarrierEvent.objects.filter(kind="status").count() == 1
    assert sent_message.events.count() == before


def test_undelivered_keeps_the_carriers_error_code(sent_message, post_webhook):
    post_webhook(
        status_path(sent_message.workspace, sent_message),
        status_params(message_sid=sent_message.provider_sid, status="undelivered", error_code=30003),
    )
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.UNDELIVERED, "30003")


def test_a_callback_found_by_provider_sid_alone_still_applies(sent_message, post_webhook):
    post_webhook(
        status_path(sent_message.workspace),
        status_params(message_sid=sent_message.provider_sid, status="delivered"),
    )
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_forged_or_missing_signature_is_refused_and_stores_nothing(sent_message, post_webhook, signature):
    response = post_webhook(
        status_path(sent_message.workspace, sent_message),
        status_params(message_sid=sent_message.provider_sid, status="delivered"),
        signature=signature,
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not CarrierEvent.objects.exists()
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT


def test_a_signature_made_with_another_token_is_refused(sent_message, post_webhook):
    response = post_webhook(
        status_path(sent_message.workspace, sent_message),
        status_params(message_sid=sent_message.provider_sid, status="failed"),
        token="0" * 32,
    )
    assert response.status_code == 403


def test_a_callback_for_an_unknown_message_is_a_404(twilio_workspace, post_webhook):
    response = post_webhook(
        status_path(twilio_workspace), status_params(message_sid="SM" + "1" * 32, status="delivered")
    )
    assert response.status_code == 404
    assert not CarrierEvent.objects.exists()


def test_a_webhook_for_an_unknown_workspace_is_a_404(post_webhook, twilio_account):
    response = post_webhook(
        "/webhooks/twilio/ws_doesnotexist/status",
        status_params(message_sid="SM" + "1" * 32, status="delivered"),
    )
    assert response.status_code == 404


def test_a_status_callback_missing_its_fields_is_a_400(sent_message, post_webhook):
    response = post_webhook(status_path(sent_message.workspace, sent_message), {"Foo": "bar"})
    assert response.status_code == 400
    assert not CarrierEvent.objects.exists()


def inbound_path(workspace) -> str:
    return f"/webhooks/twilio/{workspace.id}/inbound"


def test_an_inbound_message_is_answered_with_empty_twiml_and_filed(twilio_workspace, post_webhook):
    params = inbound_params(
        from_number=CONTACT,
        to_number=TWILIO_LONG_CODE,
        body="Hello?",
        media_urls=["https://api.twilio.com/media/ME1"],
    )
    response = post_webhook(inbound_path(twilio_workspace), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response></Response>" in response.content
    message = Message.objects.get(direction="inbound")
    assert (message.status, message.from_number, message.to_number) == ("received", CONTACT, TWILIO_LONG_CODE)
    assert message.media_urls == ["https://api.twilio.com/media/ME1"]
    conversation = Conversation.objects.get()
    assert (conversation.our_number, conversation.contact_number) == (TWILIO_LONG_CODE, CONTACT)
    assert conversation.unread_count == 1
    assert conversation.last_message_id == message.id


def test_a_carrier_retry_of_an_inbound_message_creates_nothing_new(twilio_workspace, post_webhook):
    params = inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="Once")
    post_webhook(inbound_path(twilio_workspace), params)
    again = post_webhook(inbound_path(twilio_workspace), params)
    assert again.status_code == 200
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_inbound_to_a_number_of_another_workspace_is_a_404(twilio_workspace, post_webhook):
    params = inbound_params(from_number=CONTACT, to_number="+13125550100", body="Hi")
    response = post_webhook(inbound_path(twilio_workspace), params)
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_inbound_to_a_messaging_service_pool_number_routes_like_any_other(twilio_workspace, post_webhook):
    ProviderAccount.objects.filter(workspace=twilio_workspace).update(
        messaging_service_sid=TWILIO_SERVICE_SID
    )
    params = inbound_params(
        from_number=CONTACT,
        to_number=TWILIO_POOL_NUMBER,
        body="Pool",
        messaging_service_sid=TWILIO_SERVICE_SID,
    )
    response = post_webhook(inbound_path(twilio_workspace), params)
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.to_number == TWILIO_POOL_NUMBER
    assert message.conversation.our_number == TWILIO_SERVICE_SID


@pytest.mark.parametrize(
    "keyword", ["STOP", "stop", " Unsubscribe ", "STOPALL", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
)
def test_opt_out_keywords_stop_further_sends(twilio_workspace, post_webhook, api_client, keyword):
    post_webhook(
        inbound_path(twilio_workspace),
        inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body=keyword),
    )
    assert OptOut.objects.filter(workspace=twilio_workspace, phone_number=CONTACT).exists()
    assert ConsentEvent.objects.get().action == "opt_out"
    refused = api_client.post("/api/messages", {"to": CONTACT, "body": "Sale!"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"] == "recipient_opted_out"


def test_start_opts_back_in_and_help_is_recorded(twilio_workspace, post_webhook):
    for body in ["STOP", "HELP", "START"]:
        post_webhook(
            inbound_path(twilio_workspace),
            inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body=body),
        )
    assert not OptOut.objects.exists()
    actions = list(ConsentEvent.objects.order_by("created_at", "id").values_list("action", flat=True))
    assert actions == ["opt_out", "help", "opt_in"]


def test_an_opt_out_in_one_workspace_does_not_touch_another(twilio_workspace, post_webhook, other_workspace):
    post_webhook(
        inbound_path(twilio_workspace),
        inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="STOP"),
    )
    assert not OptOut.objects.filter(workspace=other_workspace).exists()


def test_a_permanent_carrier_error_ends_the_message_failed_with_its_code(
    api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.reject_recipient(CONTACT, 21610, "Attempt to send to unsubscribed recipient")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Status.FAILED
    assert message.error_code == "21610"
    assert "unsubscribed" in message.error_message
    assert message.attempts == 1


def test_transient_carrier_errors_are_retried_until_sent(
    api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.fail_next(2, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Status.SENT
    assert message.attempts == 3
    assert len(fake_twilio.messages) == 1


def test_a_carrier_that_stays_down_ends_the_message_failed_after_the_bound(
    api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks, settings
):
    settings.SEND_MAX_ATTEMPTS = 3
    fake_twilio.down = True
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Status.FAILED
    assert message.attempts == 3
    assert "Gave up after 3 attempts" in message.error_message


def test_an_inbound_message_from_a_stranger_creates_its_contact_and_names_show_in_lists(
    twilio_workspace, post_webhook, owner_client
):
    from messaging.models import Contact

    post_webhook(
        inbound_path(twilio_workspace),
        inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="Hi there"),
    )
    contact = Contact.objects.get(workspace=twilio_workspace)
    assert (contact.phone_number, contact.name) == (CONTACT, "")
    # Named later by a member: the conversation list and the messages log say who it is.
    contact.name = "Ana Lima"
    contact.save()
    base = f"/api/ui/workspaces/{twilio_workspace.id}"
    [conversation] = owner_client.get(f"{base}/conversations").json()["data"]
    assert conversation["contact_name"] == "Ana Lima"
    detail = owner_client.get(f"{base}/conversations/{conversation['id']}").json()
    assert detail["contact_name"] == "Ana Lima"
    from django.test import Client

    page = Client()
    page.force_login(twilio_workspace.memberships.get().user)
    assert "Ana Lima" in page.get(f"/w/{twilio_workspace.id}/inbox/").content.decode()
    assert "Ana Lima" in page.get(f"/w/{twilio_workspace.id}/messages/").content.decode()
    # A second message from the same number makes no second contact.
    post_webhook(
        inbound_path(twilio_workspace),
        inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body="Again"),
    )
    assert Contact.objects.filter(workspace=twilio_workspace).count() == 1
