"""The Telnyx adapter against the fake Telnyx over HTTP: sends, errors, numbers, and webhook
signatures (Ed25519 over "<timestamp>|<raw body>")."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from messaging_platform.testing.fixtures import TELNYX_NUMBER
from numbers.models import ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import (
    Capability,
    EventKind,
    NumberInfo,
    PermanentProviderError,
    ProviderAuthError,
    TransientProviderError,
    WebhookRequest,
)
from numbers.providers.telnyx import TelnyxProvider

CONTACT = "+14155552671"


@pytest.fixture
def provider(fake_telnyx, telnyx_account) -> TelnyxProvider:
    return get_provider(
        ProviderAccount(
            provider="telnyx",
            auth_token=telnyx_account.api_key,
            settings={
                "public_key": fake_telnyx.public_key,
                "messaging_profile_id": telnyx_account.messaging_profile_id,
            },
        )
    )


def webhook(fake, body: dict, *, headers: dict | None = None, query: dict | None = None):
    raw = json.dumps(body).encode()
    return WebhookRequest(
        url="https://p.example/webhooks/telnyx/ws_1/status",
        headers=headers if headers is not None else fake.sign(raw),
        body=raw,
        form={},
        query=query or {},
    )


def test_a_send_reaches_telnyx_with_our_status_webhook(provider, fake_telnyx):
    result = provider.send(
        to=CONTACT,
        from_number=TELNYX_NUMBER,
        body="Hello",
        media_urls=["https://e.example/a.jpg"],
        status_callback="https://p.example/st?message_id=msg_1",
    )
    [sent] = fake_telnyx.wait_for_messages(1)
    assert (result.provider_sid, result.status) == (sent.id, "queued")
    assert (sent.to, sent.from_number, sent.text, sent.media_urls, sent.webhook_url) == (
        CONTACT,
        TELNYX_NUMBER,
        "Hello",
        ["https://e.example/a.jpg"],
        "https://p.example/st?message_id=msg_1",
    )


def test_a_send_without_from_uses_the_messaging_profile(provider, fake_telnyx):
    provider.send(to=CONTACT, from_number=None, body="Hi", media_urls=[], status_callback=None)
    assert fake_telnyx.wait_for_messages(1)[0].from_number == TELNYX_NUMBER


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (422, "40310", PermanentProviderError),
        (400, "10002", PermanentProviderError),
        (429, "10011", TransientProviderError),
        (503, "10007", TransientProviderError),
    ],
)
def test_refusals_map_to_permanent_or_transient(provider, fake_telnyx, status, code, error):
    fake_telnyx.reject_recipient(CONTACT, status=status, code=code, detail="refused")
    with pytest.raises(error) as caught:
        provider.send(to=CONTACT, from_number=TELNYX_NUMBER, body="x", media_urls=[], status_callback=None)
    assert (caught.value.code, caught.value.status) == (code, status)


def test_a_wrong_api_key_is_an_auth_error_that_never_shows_the_key(fake_telnyx):
    wrong = get_provider(
        ProviderAccount(
            provider="telnyx", auth_token="KEYwrong0123", settings={"public_key": fake_telnyx.public_key}
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        wrong.check_credentials()
    assert "KEYwrong0123" not in str(caught.value)


def test_telnyx_down_is_transient(provider, fake_telnyx):
    fake_telnyx.down = True
    with pytest.raises(TransientProviderError):
        provider.send(to=CONTACT, from_number=TELNYX_NUMBER, body="x", media_urls=[], status_callback=None)


def test_numbers_are_listed_across_pages_and_configured(provider, fake_telnyx, telnyx_account):
    for n in range(3):
        fake_telnyx.accounts[telnyx_account.api_key].numbers[f"9{n}"] = {
            "id": f"9{n}",
            "phone_number": f"+1202555019{n}",
            "phone_number_type": "local",
        }
    provider.page_size = 2
    numbers = provider.list_numbers()
    assert {n.phone_number for n in numbers} >= {TELNYX_NUMBER, "+12025550190", "+12025550192"}
    number = next(n for n in numbers if n.phone_number == TELNYX_NUMBER)
    provider.configure_number(
        number=number, inbound_url="https://p.example/in", status_url="https://p.example/st"
    )
    assert telnyx_account.profile_webhook_url == "https://p.example/in"
    assert telnyx_account.numbers[number.provider_sid]["messaging_profile_id"] == (
        telnyx_account.messaging_profile_id
    )
    assert provider.check_credentials().status == "active"


def test_a_number_not_on_the_account_cannot_be_configured(provider):
    with pytest.raises(PermanentProviderError):
        provider.configure_number(
            number=NumberInfo(phone_number="+13125550100", provider_sid=""),
            inbound_url="https://p/in",
            status_url="https://p/st",
        )


def test_fetch_message_reads_the_outcome(provider, fake_telnyx):
    fake_telnyx.set_delivery_outcome(CONTACT, "delivery_failed", "40008")
    result = provider.send(
        to=CONTACT, from_number=TELNYX_NUMBER, body="x", media_urls=[], status_callback=None
    )
    found = provider.fetch_message(provider_sid=result.provider_sid)
    assert (found.status, found.error_code) == ("undelivered", "40008")


def test_signed_webhooks_verify_and_forged_ones_do_not(provider, fake_telnyx):
    message = {
        "data": {
            "event_type": "message.finalized",
            "id": "ev1",
            "payload": {"id": "m1", "to": [{"phone_number": CONTACT, "status": "delivered"}]},
        }
    }
    assert provider.verify_webhook(webhook(fake_telnyx, message))
    raw = json.dumps(message).encode()
    other_key = Ed25519PrivateKey.generate()
    forged = base64.b64encode(other_key.sign(b"1|" + raw)).decode()
    stamp = str(int(time.time()))
    for headers in (
        {},
        {"telnyx-signature-ed25519": forged, "telnyx-timestamp": stamp},
        {**fake_telnyx.sign(raw), "telnyx-signature-ed25519": "not base64!"},
        fake_telnyx.sign(raw, timestamp=int(time.time()) - 3600),
    ):  # a replay
        assert not provider.verify_webhook(webhook(fake_telnyx, message, headers=headers))
    tampered = WebhookRequest(url="", headers=fake_telnyx.sign(raw), body=raw + b" ", form={}, query={})
    assert not provider.verify_webhook(tampered)
    stranger = get_provider(
        ProviderAccount(
            provider="telnyx",
            auth_token="k",
            settings={
                "public_key": base64.b64encode(
                    other_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                ).decode()
            },
        )
    )
    assert not stranger.verify_webhook(webhook(fake_telnyx, message))


def test_webhooks_are_read_into_neutral_events(provider, fake_telnyx):
    status = {
        "data": {
            "event_type": "message.finalized",
            "id": "ev1",
            "payload": {
                "id": "m1",
                "from": {"phone_number": TELNYX_NUMBER},
                "to": [{"phone_number": CONTACT, "status": "delivery_failed"}],
                "errors": [{"code": "40001", "title": "Not routable", "detail": "Landline"}],
            },
        }
    }
    [event] = provider.read_webhook("status", webhook(fake_telnyx, status, query={"message_id": "msg_1"}))
    assert (event.kind, event.message_id) == (EventKind.STATUS, "msg_1")
    update = TelnyxProvider.parse_status(event.payload)
    assert (update.provider_sid, update.status, update.error_code, update.error_message) == (
        "m1",
        "undelivered",
        "40001",
        "Landline",
    )
    assert TelnyxProvider.dedupe_key(event.kind, event.payload) == "m1:delivery_failed:40001"

    inbound = {
        "data": {
            "event_type": "message.received",
            "id": "ev2",
            "payload": {
                "id": "m2",
                "from": {"phone_number": CONTACT},
                "to": [{"phone_number": TELNYX_NUMBER}],
                "text": "Hi",
                "media": [{"url": "https://m.example/a.jpg"}, {"url": "javascript:x"}],
            },
        }
    }
    [event] = provider.read_webhook("inbound", webhook(fake_telnyx, inbound))
    message = TelnyxProvider.parse_inbound(event.payload)
    assert (
        message.provider_sid,
        message.from_number,
        message.to_number,
        message.body,
        message.media_urls,
    ) == ("m2", CONTACT, TELNYX_NUMBER, "Hi", ["https://m.example/a.jpg"])
    other = {"data": {"event_type": "call.initiated", "id": "ev3", "payload": {}}}
    assert provider.read_webhook("status", webhook(fake_telnyx, other)) == []
    for bad in ({"data": {}}, [], {"data": {"event_type": "message.received", "payload": {}}}):
        with pytest.raises(ValueError):
            events = provider.read_webhook("inbound", webhook(fake_telnyx, bad))
            TelnyxProvider.parse_inbound(events[0].payload)
    assert Capability.LIST_NUMBERS in provider.capabilities
    assert Capability.SIMULATE_INBOUND not in provider.capabilities


def test_a_send_whose_answer_never_comes_is_in_doubt_not_retried(provider, settings):
    # Telnyx may have taken a send it did not answer: sending again could send it twice.
    import socket
    import threading

    from numbers.providers.base import SendInDoubt

    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept():
        connection, _ = listener.accept()
        held.append(connection)  # read nothing back, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    settings.TELNYX_API_BASE_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.TELNYX_HTTP_TIMEOUT = 0.5
    try:
        with pytest.raises(SendInDoubt) as caught:
            provider.send(
                to=CONTACT, from_number=TELNYX_NUMBER, body="x", media_urls=[], status_callback=None
            )
        assert not caught.value.not_taken
    finally:
        listener.close()
        for connection in held:
            connection.close()
