"""The fake Twilio itself: Twilio-shaped answers, fault knobs, records, signed callbacks."""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from django.conf import settings as django_settings
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from messaging_platform.testing.fake_twilio import (
    FakeTwilio,
    inbound_params,
    segments,
    signature_headers,
    signed_post,
    status_params,
)
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE, TWILIO_POOL_NUMBER, TWILIO_SERVICE_SID
from numbers.providers.twilio import BaseUrlHttpClient, parse_inbound_params, parse_status_params


class Sink:
    """A tiny webhook receiver on loopback that records what it was sent."""

    def __init__(self, status: int = 204):
        self.received: list[tuple[str, dict[str, str], dict[str, str]]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                sink.received.append((self.path, form, dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.close()


def client_for(account, fake) -> Client:
    return Client(account.sid, account.auth_token, http_client=BaseUrlHttpClient(fake.base_url, 5))


def url(fake, account, suffix=""):
    return f"{fake.base_url}/2010-04-01/Accounts/{account.sid}{suffix}.json"


def test_the_fixture_points_the_platform_at_the_fake(fake_twilio):
    assert fake_twilio.base_url == django_settings.TWILIO_API_BASE_URL
    assert fake_twilio.base_url.startswith("http://127.0.0.1:")


def test_it_answers_401_with_twilios_error_body(fake_twilio, twilio_account):
    for auth in [(twilio_account.sid, "wrong"), ("AC" + "9" * 32, twilio_account.auth_token), None]:
        response = requests.get(url(fake_twilio, twilio_account), auth=auth, timeout=5)
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }


def test_a_created_message_is_twilio_shaped(fake_twilio, twilio_account):
    message = client_for(twilio_account, fake_twilio).messages.create(
        to="+14155550100", from_=TWILIO_LONG_CODE, body="Hello there"
    )

    assert message.sid.startswith("SM") and message.status == "queued"
    assert (message.to, message.from_, message.body) == ("+14155550100", TWILIO_LONG_CODE, "Hello there")
    assert (message.num_segments, message.num_media, message.direction) == ("1", "0", "outbound-api")
    assert message.account_sid == twilio_account.sid
    assert message.date_created is not None and message.date_created.year >= 2024


def test_the_numbers_list_is_a_paged_envelope(fake_twilio, twilio_account):
    fake_twilio.max_page_size = 2
    response = requests.get(
        url(fake_twilio, twilio_account, "/IncomingPhoneNumbers"),
        params={"PageSize": 50},
        auth=(twilio_account.sid, twilio_account.auth_token),
        timeout=5,
    )
    page = response.json()

    assert response.status_code == 200
    assert set(page) == {
        "end",
        "first_page_uri",
        "incoming_phone_numbers",
        "next_page_uri",
        "page",
        "page_size",
        "previous_page_uri",
        "start",
        "uri",
    }
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{twilio_account.sid}/IncomingPhoneNumbers")
    assert page["incoming_phone_numbers"][0]["capabilities"] == {
        "voice": True,
        "sms": True,
        "mms": True,
        "fax": False,
    }


def test_unknown_paths_and_numbers_are_404(fake_twilio, twilio_account):
    auth = (twilio_account.sid, twilio_account.auth_token)
    assert requests.get(f"{fake_twilio.base_url}/nope", auth=auth, timeout=5).status_code == 404
    response = requests.post(
        url(fake_twilio, twilio_account, "/IncomingPhoneNumbers/PN" + "0" * 32),
        data={"SmsUrl": "x"},
        auth=auth,
        timeout=5,
    )
    assert response.status_code == 404 and response.json()["code"] == 20404


def test_fail_next_fails_exactly_that_many_requests(fake_twilio, twilio_account):
    fake_twilio.fail_next(2, status=500)
    auth = (twilio_account.sid, twilio_account.auth_token)

    statuses = [
        requests.get(url(fake_twilio, twilio_account), auth=auth, timeout=5).status_code for _ in range(3)
    ]

    assert statuses == [500, 500, 200]


def test_latency_delays_every_answer(fake_twilio, twilio_account):
    fake_twilio.latency = 0.2
    started = time.monotonic()
    requests.get(url(fake_twilio, twilio_account), timeout=5)
    assert time.monotonic() - started >= 0.2


def test_it_records_sends_thread_safely_and_finds_duplicates(fake_twilio, twilio_account):
    client = client_for(twilio_account, fake_twilio)

    def worker(n):
        own = client_for(twilio_account, fake_twilio)
        for i in range(20):
            own.messages.create(to="+14155550100", from_=TWILIO_LONG_CODE, body=f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake_twilio.wait_for_messages(100, timeout=5)) == 100
    assert fake_twilio.sends_by_sender[TWILIO_LONG_CODE] == 100
    assert fake_twilio.duplicate_sends() == {}
    times = [m.received_monotonic for m in fake_twilio.messages]
    assert times == sorted(times)

    client.messages.create(to="+14155550100", from_=TWILIO_LONG_CODE, body="0-0")
    assert fake_twilio.duplicate_sends() == {(TWILIO_LONG_CODE, "+14155550100", "0-0"): 2}


def test_a_messaging_service_picks_from_its_pool_and_answers_accepted(fake_twilio, twilio_account):
    message = client_for(twilio_account, fake_twilio).messages.create(
        to="+14155550100", messaging_service_sid=TWILIO_SERVICE_SID, body="hi"
    )

    assert (message.status, message.from_, message.messaging_service_sid) == (
        "accepted",
        None,
        TWILIO_SERVICE_SID,
    )
    assert fake_twilio.messages[0].from_number == TWILIO_POOL_NUMBER


def test_rate_limits_answer_429_with_retry_after_and_refill(fake_twilio, twilio_account):
    fake_twilio.set_rate_limit(TWILIO_LONG_CODE, 2, burst=3)  # a burst of 3, then one per 500 ms
    data = {"To": "+14155550100", "From": TWILIO_LONG_CODE, "Body": "x"}
    auth = (twilio_account.sid, twilio_account.auth_token)

    def post():
        return requests.post(url(fake_twilio, twilio_account, "/Messages"), data=data, auth=auth, timeout=5)

    statuses = [post().status_code for _ in range(3)]
    refused = post()
    assert statuses == [201] * 3
    assert refused.status_code == 429 and refused.json()["code"] == 20429
    assert refused.headers["Retry-After"] == "1"
    time.sleep(0.6)
    assert post().status_code == 201
    assert fake_twilio.rate_limited[TWILIO_LONG_CODE] == 1


def test_status_callbacks_are_signed_exactly_as_twilio_signs_them(twilio_account, sink):
    with FakeTwilio(callbacks=True) as fake:
        account = fake.add_account(twilio_account.sid, twilio_account.auth_token, numbers=[TWILIO_LONG_CODE])
        callback = f"{sink.url}/webhooks/twilio/ws_1/status?message=msg_1"
        message = client_for(account, fake).messages.create(
            to="+14155550100", from_=TWILIO_LONG_CODE, body="hi", status_callback=callback
        )
        records = fake.wait_for_callbacks(2)

    assert [r.status_code for r in records] == [204, 204]
    assert [form["MessageStatus"] for _, form, _ in sink.received] == ["sent", "delivered"]
    validator = RequestValidator(account.auth_token)
    for path, form, headers in sink.received:
        assert path == "/webhooks/twilio/ws_1/status?message=msg_1"
        assert form["MessageSid"] == message.sid and form["AccountSid"] == account.sid
        assert validator.validate(callback, form, headers["X-Twilio-Signature"])
        assert parse_status_params(form).provider_sid == message.sid


def test_delivery_outcomes_can_be_set_per_recipient(sink):
    with FakeTwilio(callbacks=True) as fake:
        account = fake.add_account(numbers=[TWILIO_LONG_CODE])
        fake.set_delivery_outcome("+14155550111", "undelivered", 30003)
        fake.set_delivery_outcome("+14155550122", "failed", 30008)
        client = client_for(account, fake)
        for to in ("+14155550111", "+14155550122"):
            client.messages.create(to=to, from_=TWILIO_LONG_CODE, body="hi", status_callback=sink.url)
        fake.wait_for_callbacks(3)

    outcomes = sorted((f["To"], f["MessageStatus"], f.get("ErrorCode")) for _, f, _ in sink.received)
    assert outcomes == [
        ("+14155550111", "sent", None),
        ("+14155550111", "undelivered", "30003"),
        ("+14155550122", "failed", "30008"),
    ]


def test_no_callbacks_unless_asked(fake_twilio, twilio_account, sink):
    client_for(twilio_account, fake_twilio).messages.create(
        to="+14155550100", from_=TWILIO_LONG_CODE, body="hi", status_callback=sink.url
    )
    time.sleep(0.1)
    assert sink.received == [] and fake_twilio.callbacks_sent == []


def test_signed_post_and_post_inbound_sign_like_twilio(fake_twilio, twilio_account, sink):
    params = inbound_params(
        from_number="+14155550100",
        to_number=TWILIO_LONG_CODE,
        body="Hi",
        media_urls=["https://e.com/cat.jpg"],
    )
    target = f"{sink.url}/webhooks/twilio/ws_1/inbound"

    assert signed_post(target, params, twilio_account.auth_token).status_code == 204
    assert (
        fake_twilio.post_inbound(
            target,
            account_sid=twilio_account.sid,
            from_number="+14155550100",
            to_number=TWILIO_POOL_NUMBER,
            body="via pool",
        ).status_code
        == 204
    )

    validator = RequestValidator(twilio_account.auth_token)
    (_, first, first_headers), (_, second, second_headers) = sink.received
    assert first == params
    assert validator.validate(target, first, first_headers["X-Twilio-Signature"])
    assert validator.validate(target, second, second_headers["X-Twilio-Signature"])
    assert second["MessagingServiceSid"] == TWILIO_SERVICE_SID and second["AccountSid"] == twilio_account.sid
    assert parse_inbound_params(first).media_urls == ["https://e.com/cat.jpg"]


def test_signature_headers_match_the_twilio_validator():
    params = status_params(message_sid="SM1", status="sent", error_code=None)
    headers = signature_headers("https://x.example/status?m=1", params, "token-1")

    assert list(headers) == ["X-Twilio-Signature"]
    assert RequestValidator("token-1").validate(
        "https://x.example/status?m=1", params, headers["X-Twilio-Signature"]
    )
    assert "ErrorCode" not in params


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("é" * 160, 1),
        ("ü" * 70 + "😀", 2),
        ("😀" * 35, 1),
        ("😀" * 36, 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2_rules(body, count):
    assert segments(body) == count


def test_stop_wakes_slow_answers(twilio_account):
    fake = FakeTwilio(slow_seconds=30).start()
    account = fake.add_account(twilio_account.sid, twilio_account.auth_token)
    fake.slow = True
    started = time.monotonic()
    timer = threading.Timer(0.2, fake.stop)
    timer.start()
    with contextlib.suppress(requests.RequestException):  # either way, no 30 s wait
        requests.get(url(fake, account), timeout=5)
    assert time.monotonic() - started < 3
