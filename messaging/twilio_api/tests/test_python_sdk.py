"""Twilio's Python SDK, unchanged but for its base URL, against a live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from messaging.models import Message, MessageEvent, OptOut

from .conftest import OUR_NUMBER, sdk_client, wait_for_sent

TO = "+14155550142"


def rest_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_a_twilio_script_sends_fetches_and_pages_through_messages(client, account):
    sent = [client.messages.create(to=TO, from_=OUR_NUMBER, body=f"Hello {n}") for n in range(3)]

    first = sent[0]
    assert first.sid.startswith("SM") and first.account_sid == account.account_sid
    assert first.status == "queued" and first.direction == "outbound-api"
    assert (first.to, first.from_, first.body) == (TO, OUR_NUMBER, "Hello 0")
    assert first.num_segments == "1" and first.num_media == "0" and first.api_version == "2010-04-01"
    assert isinstance(first.date_created, datetime) and first.date_created.tzinfo is not None
    assert first.uri == f"/2010-04-01/Accounts/{account.account_sid}/Messages/{first.sid}.json"

    fetched = client.messages(first.sid).fetch()
    assert (fetched.sid, fetched.body) == (first.sid, "Hello 0")

    # Two to a page: the SDK follows next_page_uri until it is null.
    listed = client.messages.list(page_size=2)
    assert [m.sid for m in listed] == [m.sid for m in reversed(sent)]
    page = client.messages.page(page_size=2)
    assert len(list(page)) == 2 and page.next_page_url is not None
    last = page.next_page()
    assert [m.sid for m in last] == [first.sid] and last.next_page_url is None
    assert client.messages.list(to="+14155550199") == []
    assert len(client.messages.list(from_=OUR_NUMBER, date_sent_after=datetime(2020, 1, 1))) == 3

    # One write path: the platform's own send service stored each once, with its events.
    assert Message.objects.filter(workspace=account.workspace).count() == 3
    assert MessageEvent.objects.filter(message__workspace=account.workspace, status="queued").count() == 3


def test_status_callbacks_are_posted_with_twilios_parameters_and_a_valid_signature(
    client, account, app_server, live, carrier
):
    message = client.messages.create(
        to=TO, from_=OUR_NUMBER, body="Track me", status_callback=app_server.url("/status")
    )

    delivered = app_server.wait_for(
        lambda r: r.params.get("MessageStatus") == "delivered", what="a delivered callback"
    )[0]
    statuses = [r.params["MessageStatus"] for r in app_server.requests]
    assert "sent" in statuses and statuses.index("sent") < statuses.index("delivered")
    assert len(statuses) == len(set(statuses))  # one post per status
    assert delivered.method == "POST"
    assert delivered.params["MessageSid"] == delivered.params["SmsSid"] == message.sid
    assert delivered.params["AccountSid"] == account.account_sid
    assert (delivered.params["From"], delivered.params["To"]) == (OUR_NUMBER, TO)
    assert delivered.params["ApiVersion"] == "2010-04-01"
    validator = RequestValidator(account.auth_token)
    assert validator.validate(delivered.url, delivered.params, delivered.headers["x-twilio-signature"])
    assert not RequestValidator("0" * 32).validate(
        delivered.url, delivered.params, delivered.headers["x-twilio-signature"]
    )
    assert client.messages(message.sid).fetch().status == "delivered"


def test_a_scheduled_message_is_canceled_and_a_delivered_one_redacted_and_deleted(client, app_server):
    send_at = datetime.now(UTC) + timedelta(hours=2)
    scheduled = client.messages.create(
        to=TO, from_=OUR_NUMBER, body="Later", send_at=send_at, schedule_type="fixed"
    )
    assert scheduled.status == "scheduled"
    canceled = client.messages(scheduled.sid).update(status="canceled")
    assert canceled.status == "canceled"
    again = rest_error(lambda: client.messages(scheduled.sid).update(status="canceled"))
    assert (again.status, again.code) == (400, 30409)

    sent = client.messages.create(
        to=TO, from_=OUR_NUMBER, body="Secret code 1234", status_callback=app_server.url()
    )
    app_server.wait_for(lambda r: r.params.get("MessageStatus") == "delivered")
    redacted = client.messages(sent.sid).update(body="")
    assert redacted.body == "" and client.messages(sent.sid).fetch().body == ""
    assert Message.objects.get(body="", to_number=TO, status="delivered")

    assert client.messages(sent.sid).delete() is True
    gone = rest_error(lambda: client.messages(sent.sid).fetch())
    assert (gone.status, gone.code) == (404, 20404)


def test_bad_requests_answer_twilios_error_codes_and_send_nothing(client, account, live):
    OptOut.objects.create(workspace=account.workspace, phone_number="+14155550177", keyword="STOP")
    cases = [
        (dict(to="not a number", from_=OUR_NUMBER, body="x"), 400, 21211),
        (dict(to=TO, from_="+14155550100", body="x"), 400, 21606),
        (dict(to=TO, from_=OUR_NUMBER, body=""), 400, 21602),
        (dict(to=TO, body="x"), 400, 21603),
        (dict(to="+14155550177", from_=OUR_NUMBER, body="x"), 400, 21610),
        (dict(to=TO, from_=OUR_NUMBER, body="x" * 1601), 400, 21617),
        (dict(to=TO, from_=OUR_NUMBER, body="x", status_callback="ftp://example.com/"), 400, 21609),
        (
            dict(
                to=TO,
                from_=OUR_NUMBER,
                body="x",
                send_at=datetime.now(UTC) - timedelta(hours=1),
                schedule_type="fixed",
            ),
            400,
            35114,
        ),
    ]
    for kwargs, status, code in cases:
        error = rest_error(lambda kwargs=kwargs: client.messages.create(**kwargs))
        assert (error.status, error.code) == (status, code), kwargs
        assert error.msg
    assert not Message.objects.filter(workspace=account.workspace).exists()

    wrong = sdk_client(live, account.account_sid, "f" * 32)
    error = rest_error(lambda: wrong.messages.create(to=TO, from_=OUR_NUMBER, body="x"))
    assert (error.status, error.code) == (401, 20003)
    unknown = rest_error(lambda: client.messages("SMnope").fetch())
    assert (unknown.status, unknown.code) == (404, 20404)


def test_an_api_key_of_the_workspace_works_as_the_password(live, account):
    client = sdk_client(live, account.account_sid, account.api_key)
    assert client.api.accounts(account.account_sid).fetch().friendly_name == "Acme"
    assert client.messages.create(to=TO, from_=OUR_NUMBER, body="Hi").status == "queued"


def test_another_workspaces_credentials_see_none_of_its_messages_or_numbers(
    client, account, make_compat_account, live
):
    mine = client.messages.create(to=TO, from_=OUR_NUMBER, body="Mine")
    other = make_compat_account(number="+13125550100", name="Other")
    theirs = sdk_client(live, other.account_sid, other.auth_token)

    assert theirs.messages.list() == []
    assert [n.phone_number for n in theirs.incoming_phone_numbers.list()] == ["+13125550100"]
    error = rest_error(lambda: theirs.messages(mine.sid).fetch())
    assert (error.status, error.code) == (404, 20404)
    error = rest_error(lambda: theirs.messages(mine.sid).update(body=""))
    assert error.status == 404
    number_sid = client.incoming_phone_numbers.list()[0].sid
    error = rest_error(lambda: theirs.incoming_phone_numbers(number_sid).update(sms_url="https://x.example/"))
    assert error.status == 404
    # The first workspace's AccountSid in the URL with the second's credentials: not found.
    error = rest_error(lambda: theirs.api.accounts(account.account_sid).fetch())
    assert error.status == 404
    error = rest_error(lambda: theirs.api.accounts(account.account_sid).messages(mine.sid).fetch())
    assert error.status == 404
    # The first workspace's SID as the username with the second's token: refused.
    mixed = sdk_client(live, account.account_sid, other.auth_token)
    assert rest_error(lambda: mixed.messages(mine.sid).fetch()).code == 20003


def test_an_inbound_text_is_posted_to_the_sms_url_and_a_twiml_reply_is_sent(
    client, account, app_server, live, carrier
):
    app_server.answer = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks, we got it</Message></Response>'
    )
    [number] = client.incoming_phone_numbers.list(phone_number=OUR_NUMBER)
    assert number.sid.startswith("PN") and number.capabilities["sms"] is True
    updated = client.incoming_phone_numbers(number.sid).update(
        sms_url=app_server.url("/sms"), sms_method="POST", friendly_name="Support line"
    )
    assert (updated.sms_url, updated.sms_method, updated.friendly_name) == (
        app_server.url("/sms"),
        "POST",
        "Support line",
    )
    assert client.incoming_phone_numbers(number.sid).fetch().sms_url == app_server.url("/sms")

    answer = carrier.post_inbound(
        f"{live.url}/webhooks/twilio/{account.workspace.id}/inbound",
        account_sid=account.carrier_account.sid,
        from_number="+14155550123",
        to_number=OUR_NUMBER,
        body="Is my order ready?",
    )
    assert answer.status_code == 200

    [posted] = app_server.wait_for(lambda r: r.url.endswith("/sms"), what="the SmsUrl post")
    assert posted.params["Body"] == "Is my order ready?"
    assert (posted.params["From"], posted.params["To"]) == ("+14155550123", OUR_NUMBER)
    assert posted.params["AccountSid"] == account.account_sid
    assert posted.params["SmsStatus"] == "received" and posted.params["NumMedia"] == "0"
    assert posted.params["MessageSid"].startswith("SM")
    assert RequestValidator(account.auth_token).validate(
        posted.url, posted.params, posted.headers["x-twilio-signature"]
    )

    reply = wait_for_sent(carrier, "+14155550123")
    assert reply.body == "Thanks, we got it" and reply.from_number == OUR_NUMBER
    inbound = client.messages(posted.params["MessageSid"]).fetch()
    assert inbound.direction == "inbound" and inbound.status == "received"
