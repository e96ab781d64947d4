"""RapidPro's Courier (nyaruka/courier, handlers/twiml) pointed at this platform as a TWIML-API
channel: the send requests it makes (the forms of its handler tests: plain, long, text with media,
media only, through a Messaging Service, to a stopped contact), and what its receive and status
handlers require of the callbacks (required fields, a known status, a valid signature over the
callback URL with its query string)."""

from __future__ import annotations

import base64
import time

import requests
from twilio.request_validator import RequestValidator

from messaging.models import Message, OptOut
from numbers.models import ProviderAccount

from .conftest import OUR_NUMBER

CONTACT = "+250788383383"
# Courier's statusMapping: anything else its status handler answers with a 400.
COURIER_STATUSES = {"queued", "failed", "sent", "delivered", "read", "undelivered"}
# Courier's moForm: the fields its receive handler requires.
COURIER_MO_REQUIRED = {"MessageSid", "AccountSid", "From", "To"}
SERVICE_SID = "MG" + "5" * 32


def courier_send(live, account, form: dict) -> requests.Response:
    """The request of Courier's send(): form-encoded, Basic auth (SetBasicAuth), JSON accepted."""
    credentials = base64.b64encode(f"{account.account_sid}:{account.auth_token}".encode()).decode()
    return requests.post(
        f"{live.url}/2010-04-01/Accounts/{account.account_sid}/Messages.json",
        data=form,
        timeout=10,
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )


def test_courier_sends_are_accepted_and_its_callbacks_get_what_its_handlers_require(
    live, account, app_server, carrier
):
    ProviderAccount.objects.filter(workspace=account.workspace).update(messaging_service_sid=SERVICE_SID)
    carrier.add_messaging_service(account.carrier_account.sid, [OUR_NUMBER], sid=SERVICE_SID)
    callback = app_server.url(
        "/c/t/8eb23e93-5ecb-45ba-b726-3b064e0c56ab/status"
        "?uuid=0191e180-7d60-7000-aded-7d8b151cbd5b&action=callback"
    )
    forms = [
        {"Body": "Simple Message ☺", "To": CONTACT, "From": OUR_NUMBER, "StatusCallback": callback},
        {
            "Body": "This is a longer message than 160 characters and will cause us to split it into "
            "two separate parts, isn't that right but it is even longer than before I say,",
            "To": CONTACT,
            "From": OUR_NUMBER,
            "StatusCallback": callback,
        },
        {
            "Body": "I need to keep adding more things to make it work",
            "To": CONTACT,
            "From": OUR_NUMBER,
            "StatusCallback": callback,
        },
        {
            "Body": "My pic!",
            "To": CONTACT,
            "From": OUR_NUMBER,
            "StatusCallback": callback,
            "MediaUrl": ["https://foo.bar/image.jpg"],
        },
        {
            "To": CONTACT,
            "From": OUR_NUMBER,
            "StatusCallback": callback,
            "MediaUrl": ["https://foo.bar/image.jpg", "https://foo.bar/audio.m4a"],
        },
        {
            "Body": "Simple Message ☺",
            "To": CONTACT,
            "MessagingServiceSid": SERVICE_SID,
            "StatusCallback": callback,
            "ShortenUrls": "true",
        },
    ]
    sids = []
    for form in forms:
        response = courier_send(live, account, form)
        assert response.status_code == 201, response.text
        sids.append(response.json()["sid"])  # Courier keeps `sid` as the external id
    # Courier splits long texts itself: each part is a message of its own.
    assert Message.objects.get(pk=f"msg_{sids[1][2:]}").body == forms[1]["Body"]
    assert Message.objects.get(pk=f"msg_{sids[4][2:]}").media_urls == forms[4]["MediaUrl"]
    assert Message.objects.get(pk=f"msg_{sids[5][2:]}").messaging_service_sid == SERVICE_SID

    # A stopped contact: Courier reads `code` 21610 from the error body and stops the contact.
    OptOut.objects.create(workspace=account.workspace, phone_number="+250788383384", keyword="STOP")
    refused = courier_send(
        live,
        account,
        {"Body": "Stopped Contact", "To": "+250788383384", "From": OUR_NUMBER, "StatusCallback": callback},
    )
    assert refused.status_code == 400 and refused.json()["code"] == 21610

    # Every status callback is one Courier's status handler accepts, signed over the full URL.
    validator = RequestValidator(account.auth_token)
    for sid in sids:
        app_server.wait_for(
            lambda r, sid=sid: r.params.get("MessageSid") == sid
            and r.params.get("MessageStatus") == "delivered",
            what=f"{sid} delivered",
        )
    for request in app_server.requests:
        assert request.url == callback
        assert request.params["MessageStatus"] in COURIER_STATUSES
        assert request.params["MessageSid"] in sids
        assert validator.validate(request.url, request.params, request.headers["x-twilio-signature"])

    # Courier's receive handler as the number's SmsUrl: it answers an empty <Response/>.
    app_server.answer = "<Response/>"
    number_sid = "PN" + account.workspace.phone_numbers.get().id.partition("_")[2]
    credentials = (account.account_sid, account.auth_token)
    receive = app_server.url("/c/t/8eb23e93-5ecb-45ba-b726-3b064e0c56ab/receive")
    updated = requests.post(
        f"{live.url}/2010-04-01/Accounts/{account.account_sid}/IncomingPhoneNumbers/{number_sid}.json",
        data={"SmsUrl": receive},
        auth=credentials,
        timeout=10,
    )
    assert updated.status_code == 200 and updated.json()["sms_url"] == receive
    before = len(carrier.messages)
    carrier.post_inbound(
        f"{live.url}/webhooks/twilio/{account.workspace.id}/inbound",
        account_sid=account.carrier_account.sid,
        from_number="+14133881111",
        to_number=OUR_NUMBER,
        body="Msg",
        media_urls=["https://foo.bar/cat.jpg"],
    )
    [mo] = app_server.wait_for(lambda r: r.url == receive, what="the SmsUrl post")
    assert {k for k, v in mo.params.items() if v} >= COURIER_MO_REQUIRED
    assert (mo.params["Body"], mo.params["NumMedia"], mo.params["MediaUrl0"]) == (
        "Msg",
        "1",
        "https://foo.bar/cat.jpg",
    )
    assert mo.params["FromCountry"] == "US"
    assert validator.validate(mo.url, mo.params, mo.headers["x-twilio-signature"])
    # An empty TwiML answer sends nothing back.
    assert wait_for_nothing(carrier, "+14133881111", before)


def wait_for_nothing(carrier, to: str, before: int) -> bool:
    time.sleep(1.5)  # long enough for a reply to have reached the carrier, had one been sent
    return not [m for m in carrier.messages[before:] if m.to == to]


def test_a_stopped_contacts_error_is_the_one_courier_reads(live, account):
    OptOut.objects.create(workspace=account.workspace, phone_number=CONTACT, keyword="STOP")
    body = courier_send(live, account, {"Body": "x", "To": CONTACT, "From": OUR_NUMBER}).json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert (body["code"], body["status"]) == (21610, 400)
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21610"
    assert not Message.objects.filter(workspace=account.workspace).exists()
