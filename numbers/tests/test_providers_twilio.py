"""The Twilio adapter against the fake Twilio over real HTTP, with the real twilio client."""

import logging
import threading
import time

import pytest
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from messaging_platform.testing.fake_twilio import FakeNumber, FakeTwilio, inbound_params, status_params
from messaging_platform.testing.fixtures import (
    TWILIO_LONG_CODE,
    TWILIO_POOL_NUMBER,
    TWILIO_SERVICE_SID,
    TWILIO_TOLL_FREE,
)
from numbers.models import ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import (
    NumberInfo,
    PermanentProviderError,
    ProviderAuthError,
    TransientProviderError,
)
from numbers.providers.twilio import TwilioProvider, _http_client

RECIPIENT = "+14155550100"
WEBHOOK_URL = "https://platform.example.com/webhooks/twilio/ws_1/status?message=msg_1"


def provider_for(account, *, token=None, messaging_service_sid="") -> TwilioProvider:
    return get_provider(
        ProviderAccount(
            provider="twilio",
            account_sid=account.sid,
            auth_token=token or account.auth_token,
            messaging_service_sid=messaging_service_sid,
        )
    )


@pytest.fixture
def provider(twilio_account) -> TwilioProvider:
    return provider_for(twilio_account)


def send(provider, **overrides):
    kwargs = {
        "to": RECIPIENT,
        "from_number": TWILIO_LONG_CODE,
        "body": "Hello",
        "media_urls": [],
        "status_callback": None,
    }
    kwargs.update(overrides)
    return provider.send(**kwargs)


# sending


def test_it_sends_a_message_and_returns_the_carrier_sid(provider, fake_twilio):
    result = send(provider, status_callback="https://platform.example.com/cb?message=msg_1")

    assert result.provider_sid.startswith("SM") and len(result.provider_sid) == 34
    assert result.status == "queued"
    [message] = fake_twilio.messages
    assert (message.sid, message.to, message.from_number, message.body) == (
        result.provider_sid,
        RECIPIENT,
        TWILIO_LONG_CODE,
        "Hello",
    )
    assert message.status_callback == "https://platform.example.com/cb?message=msg_1"


def test_it_sends_media_urls_as_repeated_params(provider, fake_twilio):
    send(provider, body="", media_urls=["https://example.com/a.jpg", "https://example.com/b.png"])

    assert fake_twilio.messages[0].media_urls == ("https://example.com/a.jpg", "https://example.com/b.png")
    assert fake_twilio.messages[0].body == ""


def test_it_sends_through_the_accounts_messaging_service_without_a_from_number(twilio_account, fake_twilio):
    provider = provider_for(twilio_account, messaging_service_sid=TWILIO_SERVICE_SID)

    result = send(provider, from_number=None)

    assert result.status == "accepted"
    [message] = fake_twilio.messages
    assert message.messaging_service_sid == TWILIO_SERVICE_SID
    assert message.from_number == TWILIO_POOL_NUMBER


def test_a_messaging_service_given_to_send_wins_over_none(provider, fake_twilio):
    send(provider, from_number=None, messaging_service_sid=TWILIO_SERVICE_SID)

    assert fake_twilio.messages[0].messaging_service_sid == TWILIO_SERVICE_SID


def test_it_refuses_to_send_without_a_sender_before_calling_twilio(provider, fake_twilio):
    with pytest.raises(PermanentProviderError) as caught:
        send(provider, from_number=None)

    assert caught.value.code == "21603"
    assert fake_twilio.requests == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to": "12345"}, "21211"),
        ({"from_number": "+13125550199"}, "21606"),
        ({"body": "", "media_urls": []}, "21602"),
    ],
)
def test_it_reports_twilio_refusals_as_permanent_errors_with_their_code(provider, overrides, code):
    with pytest.raises(PermanentProviderError) as caught:
        send(provider, **overrides)

    error = caught.value
    assert (error.code, error.status, error.permanent) == (code, 400, True)
    assert not isinstance(error, ProviderAuthError)
    assert error.message and not error.message.startswith("Unable to")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21610, "Attempt to send to unsubscribed recipient"),
        (21614, "'To' number is not a valid mobile number"),
        (21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    ],
)
def test_recipient_refusals_are_permanent(provider, fake_twilio, code, message):
    fake_twilio.reject_recipient(RECIPIENT, code, message)

    with pytest.raises(PermanentProviderError) as caught:
        send(provider)

    assert caught.value.code == str(code)
    assert caught.value.message == message


@pytest.mark.parametrize("code", [21212, 21659])
def test_bad_sender_errors_are_permanent(provider, fake_twilio, code):
    fake_twilio.fail_next(1, status=400, code=code, message="Invalid From Number")

    with pytest.raises(PermanentProviderError) as caught:
        send(provider)

    assert caught.value.code == str(code)


def test_wrong_credentials_are_an_auth_error(twilio_account, fake_twilio):
    provider = provider_for(twilio_account, token="not-the-token")

    for call in (lambda: send(provider), provider.check_credentials, provider.list_numbers):
        with pytest.raises(ProviderAuthError) as caught:
            call()
        assert (caught.value.code, caught.value.status) == ("20003", 401)
    assert fake_twilio.messages == []


def test_an_account_without_credentials_is_an_auth_error_without_a_request(fake_twilio):
    provider = get_provider(ProviderAccount(provider="twilio"))

    with pytest.raises(ProviderAuthError):
        provider.check_credentials()
    assert fake_twilio.requests == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(provider, fake_twilio, status):
    fake_twilio.fail_next(1, status=status)

    with pytest.raises(TransientProviderError) as caught:
        send(provider)

    assert caught.value.status == status and not caught.value.permanent
    assert send(provider).provider_sid  # the next request goes through


def test_an_outage_is_transient_until_it_ends(provider, fake_twilio):
    fake_twilio.down = True
    for _ in range(3):
        with pytest.raises(TransientProviderError):
            send(provider)

    fake_twilio.down = False
    assert send(provider).provider_sid
    assert len(fake_twilio.messages) == 1


def test_a_429_is_transient_with_the_retry_after_header(provider, fake_twilio):
    fake_twilio.fail_next(1, status=429, retry_after=7)

    with pytest.raises(TransientProviderError) as caught:
        send(provider)

    assert (caught.value.code, caught.value.status, caught.value.retry_after) == ("20429", 429, 7.0)


def test_a_per_sender_rate_limit_answers_429_and_spares_other_senders(provider, fake_twilio):
    fake_twilio.set_rate_limit(TWILIO_LONG_CODE, 1)
    send(provider)

    with pytest.raises(TransientProviderError) as caught:
        send(provider)
    assert caught.value.code == "20429"
    assert caught.value.retry_after == 1.0

    send(provider, from_number=TWILIO_TOLL_FREE)
    assert fake_twilio.rate_limited[TWILIO_LONG_CODE] == 1
    assert fake_twilio.sends_by_sender == {TWILIO_LONG_CODE: 1, TWILIO_TOLL_FREE: 1}


def test_a_slow_carrier_times_out_as_transient(provider, fake_twilio, settings):
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    fake_twilio.slow = True

    started = time.monotonic()
    with pytest.raises(TransientProviderError) as caught:
        send(provider)

    assert time.monotonic() - started < 3
    assert "0.3 seconds" in caught.value.message


def test_an_unreachable_carrier_is_transient(provider, settings):
    with FakeTwilio() as gone:
        settings.TWILIO_API_BASE_URL = gone.base_url
    with pytest.raises(TransientProviderError) as caught:
        send(provider)
    assert "Could not reach Twilio" in caught.value.message


# the account and its numbers


def test_check_credentials_fetches_the_account(provider, twilio_account):
    info = provider.check_credentials()

    assert (info.account_sid, info.friendly_name, info.status) == (
        twilio_account.sid,
        "Fake Twilio account",
        "active",
    )


def test_list_numbers_reports_capabilities_and_toll_free_numbers(provider):
    numbers = {n.phone_number: n for n in provider.list_numbers()}

    assert set(numbers) == {TWILIO_LONG_CODE, TWILIO_TOLL_FREE, TWILIO_POOL_NUMBER}
    long_code, toll_free = numbers[TWILIO_LONG_CODE], numbers[TWILIO_TOLL_FREE]
    assert (long_code.sms, long_code.mms, long_code.voice, long_code.number_type) == (
        True,
        True,
        True,
        "long_code",
    )
    assert (toll_free.sms, toll_free.mms, toll_free.voice, toll_free.number_type) == (
        True,
        False,
        False,
        "toll_free",
    )
    assert long_code.provider_sid.startswith("PN") and long_code.friendly_name == "Main line"


def test_list_numbers_follows_every_page(make_twilio_account, fake_twilio):
    account = make_twilio_account(numbers=[f"+1312555{i:04d}" for i in range(7)])
    fake_twilio.max_page_size = 3

    numbers = provider_for(account).list_numbers()

    assert [n.phone_number for n in numbers] == [f"+1312555{i:04d}" for i in range(7)]
    assert sum(1 for r in fake_twilio.requests if r.path.endswith("IncomingPhoneNumbers.json")) == 3


def test_configure_number_points_its_webhooks_at_the_platform(provider, twilio_account):
    number = next(n for n in provider.list_numbers() if n.phone_number == TWILIO_LONG_CODE)

    provider.configure_number(
        number=number, inbound_url="https://p.example.com/in", status_url="https://p.example.com/status"
    )

    recorded = twilio_account.numbers[number.provider_sid]
    # With Twilio's connection override: retry on timeouts and 5xx (our 503 in an outage).
    assert (recorded.sms_url, recorded.sms_method, recorded.status_callback) == (
        "https://p.example.com/in#rc=5&rp=ct,rt,5xx&tt=15000",
        "POST",
        "https://p.example.com/status#rc=5&rp=ct,rt,5xx&tt=15000",
    )


def test_configure_number_finds_a_number_by_e164_without_its_sid(provider, twilio_account):
    provider.configure_number(
        number=NumberInfo(phone_number=TWILIO_TOLL_FREE, provider_sid=""),
        inbound_url="https://p.example.com/in",
        status_url="https://p.example.com/st",
    )

    assert twilio_account.number(TWILIO_TOLL_FREE).sms_url.startswith("https://p.example.com/in#rc=")


def test_configure_number_of_another_account_is_permanent(provider, make_twilio_account):
    other = make_twilio_account(numbers=[FakeNumber("+13125550142")])
    foreign = next(iter(other.numbers.values()))

    with pytest.raises(PermanentProviderError) as caught:
        provider.configure_number(
            number=NumberInfo(foreign.phone_number, foreign.sid),
            inbound_url="https://p/in",
            status_url="https://p/st",
        )
    assert caught.value.status == 404
    with pytest.raises(PermanentProviderError):
        provider.configure_number(
            number=NumberInfo(foreign.phone_number, ""), inbound_url="https://p/in", status_url="https://p/st"
        )
    assert foreign.sms_url == ""


# webhooks


def test_a_genuinely_signed_webhook_is_accepted(provider, twilio_account):
    params = status_params(message_sid="SM" + "a" * 32, status="delivered", account_sid=twilio_account.sid)
    signature = RequestValidator(twilio_account.auth_token).compute_signature(WEBHOOK_URL, params)

    assert provider.validate_webhook(url=WEBHOOK_URL, params=params, signature=signature) is True


def test_a_django_querydict_is_validated_like_a_dict(provider, twilio_account):
    params = inbound_params(
        from_number=RECIPIENT, to_number=TWILIO_LONG_CODE, body="Hi & bye", media_urls=["https://e.com/1.jpg"]
    )
    signature = RequestValidator(twilio_account.auth_token).compute_signature(WEBHOOK_URL, params)
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = value

    assert provider.validate_webhook(url=WEBHOOK_URL, params=query, signature=signature) is True


def test_forged_missing_or_tampered_signatures_are_refused(provider, twilio_account):
    params = status_params(message_sid="SM" + "a" * 32, status="delivered")
    genuine = RequestValidator(twilio_account.auth_token).compute_signature(WEBHOOK_URL, params)
    forged = RequestValidator("another-token").compute_signature(WEBHOOK_URL, params)

    assert provider.validate_webhook(url=WEBHOOK_URL, params=params, signature=forged) is False
    assert provider.validate_webhook(url=WEBHOOK_URL, params=params, signature="") is False
    assert (
        provider.validate_webhook(
            url=WEBHOOK_URL, params={**params, "MessageStatus": "failed"}, signature=genuine
        )
        is False
    )
    assert (
        provider.validate_webhook(url=WEBHOOK_URL, params={**params, "Extra": "1"}, signature=genuine)
        is False
    )
    assert (
        provider.validate_webhook(url=WEBHOOK_URL.replace("ws_1", "ws_2"), params=params, signature=genuine)
        is False
    )


def test_a_url_signed_with_or_without_its_default_port_is_genuine_and_another_port_is_not(
    provider, twilio_account
):
    params = status_params(message_sid="SM" + "a" * 32, status="delivered")
    bare, with_port = WEBHOOK_URL, WEBHOOK_URL.replace(".com/", ".com:443/")

    def signed(url: str) -> str:
        return RequestValidator(twilio_account.auth_token).compute_signature(url, params)

    for signed_url in (bare, with_port):  # Twilio may sign either form of the URL it called
        for called_url in (bare, with_port):
            assert provider.validate_webhook(url=called_url, params=params, signature=signed(signed_url))
    other_port = signed(WEBHOOK_URL.replace(".com/", ".com:8443/"))
    assert not provider.validate_webhook(url=bare, params=params, signature=other_port)
    assert not provider.validate_webhook(url=with_port, params=params, signature=other_port)


def test_without_an_auth_token_no_webhook_is_genuine(fake_twilio):
    provider = get_provider(ProviderAccount(provider="twilio", account_sid="AC" + "1" * 32))
    signature = RequestValidator("").compute_signature(WEBHOOK_URL, {})

    assert provider.validate_webhook(url=WEBHOOK_URL, params={}, signature=signature) is False


def test_parse_inbound_reads_an_mms_with_its_media(provider):
    params = inbound_params(
        from_number=RECIPIENT,
        to_number=TWILIO_POOL_NUMBER,
        body="Look",
        media_urls=["https://e.com/1.jpg", "https://e.com/2.jpg"],
        messaging_service_sid=TWILIO_SERVICE_SID,
    )

    message = provider.parse_inbound(params)

    assert message.provider_sid == params["MessageSid"] and message.provider_sid.startswith("MM")
    assert (message.from_number, message.to_number, message.body) == (RECIPIENT, TWILIO_POOL_NUMBER, "Look")
    assert message.media_urls == ["https://e.com/1.jpg", "https://e.com/2.jpg"]
    assert message.messaging_service_sid == TWILIO_SERVICE_SID


def test_parse_inbound_accepts_the_legacy_sid_name(provider):
    message = provider.parse_inbound({"SmsMessageSid": "SM1", "From": RECIPIENT, "To": TWILIO_LONG_CODE})

    assert (message.provider_sid, message.body, message.media_urls) == ("SM1", "", [])


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_parse_inbound_without_a_required_field_is_a_value_error(provider, missing):
    params = {"MessageSid": "SM1", "From": RECIPIENT, "To": TWILIO_LONG_CODE, "Body": "x"}
    del params[missing]

    with pytest.raises(ValueError):
        provider.parse_inbound(params)


def test_parse_inbound_with_a_bad_media_count_is_a_value_error(provider):
    with pytest.raises(ValueError):
        provider.parse_inbound(
            {"MessageSid": "SM1", "From": RECIPIENT, "To": TWILIO_LONG_CODE, "NumMedia": "many"}
        )


@pytest.mark.parametrize(
    ("twilio_status", "status"),
    [
        ("accepted", "queued"),
        ("scheduled", "queued"),
        ("queued", "queued"),
        ("sending", "sending"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "delivered"),
        ("undelivered", "undelivered"),
        ("failed", "failed"),
        ("canceled", "canceled"),
    ],
)
def test_parse_status_maps_twilio_statuses(provider, twilio_status, status):
    update = provider.parse_status(status_params(message_sid="SM9", status=twilio_status))

    assert (update.provider_sid, update.status, update.error_code) == ("SM9", status, None)


def test_parse_status_keeps_the_error_code_and_message(provider):
    params = {
        **status_params(
            message_sid="SM9",
            status="undelivered",
            error_code=30003,
            from_number=TWILIO_LONG_CODE,
            to_number=RECIPIENT,
        ),
        "ErrorMessage": "Unreachable destination handset",
    }

    update = provider.parse_status(params)

    assert (update.status, update.error_code, update.error_message) == (
        "undelivered",
        "30003",
        "Unreachable destination handset",
    )
    assert (update.from_number, update.to_number) == (TWILIO_LONG_CODE, RECIPIENT)


def test_parse_status_falls_back_to_the_legacy_names(provider):
    update = provider.parse_status({"SmsSid": "SM9", "SmsStatus": "sent"})

    assert (update.provider_sid, update.status) == ("SM9", "sent")


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "sent"},
        {"MessageSid": "SM9"},
        {"MessageSid": "SM9", "MessageStatus": "exploded"},
        {"CallSid": "CA9", "CallStatus": "completed"},
    ],
)
def test_parse_status_refuses_incomplete_or_unknown_events(provider, params):
    with pytest.raises(ValueError):
        provider.parse_status(params)


# secrets and sessions


def test_the_auth_token_never_appears_in_errors_or_logs(twilio_account, fake_twilio, settings, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("twilio", "twilio.http_client", "urllib3", "numbers"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = provider_for(twilio_account)
    wrong_token = "wrong-token-f00dfeedcafe"
    bad = provider_for(twilio_account, token=wrong_token)
    errors = []

    good.check_credentials()  # Twilio's answer carries the token: it must not be logged either
    good.list_numbers()
    send(good)
    for call in (lambda: send(bad), bad.check_credentials, bad.list_numbers, lambda: send(good, to="nope")):
        with pytest.raises(PermanentProviderError) as caught:
            call()
        errors.append(caught.value)
    fake_twilio.fail_next(1, status=503)
    with pytest.raises(TransientProviderError) as caught:
        send(good)
    errors.append(caught.value)
    settings.TWILIO_HTTP_TIMEOUT = 0.2
    fake_twilio.slow = True
    with pytest.raises(TransientProviderError) as caught:
        send(good)
    errors.append(caught.value)

    assert any("twilio" in record.name for record in caplog.records)  # the library did log
    for secret in (twilio_account.auth_token, wrong_token):
        assert secret not in caplog.text
        for error in errors:
            assert secret not in str(error) and secret not in repr(error.args)
            assert error.__cause__ is None and error.__suppress_context__
    assert twilio_account.auth_token not in repr(good)


def test_each_thread_reuses_its_own_http_session(settings, fake_twilio):
    mine = _http_client()
    assert _http_client() is mine
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(_http_client()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine and theirs[0].session is not mine.session

    settings.TWILIO_HTTP_TIMEOUT = 3
    assert _http_client() is not mine  # a settings change is honoured


def test_concurrent_sends_from_threads_all_arrive(provider, fake_twilio):
    def worker(n: int) -> None:
        for i in range(10):
            send(provider, body=f"thread {n} message {i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake_twilio.messages) == 60
    assert fake_twilio.duplicate_sends() == {}


def test_it_fetches_a_message_with_the_carriers_current_status(provider, fake_twilio):
    sid = send(provider).provider_sid
    fake_twilio.set_message_status(sid, "undelivered", 30003)
    found = provider.fetch_message(provider_sid=sid)
    assert (found.provider_sid, found.status, found.error_code) == (sid, "undelivered", "30003")
    assert found.created_at is not None


def test_fetching_a_sid_the_carrier_does_not_know_is_a_permanent_error(provider, fake_twilio):
    with pytest.raises(PermanentProviderError):
        provider.fetch_message(provider_sid="SM" + "0" * 32)


def test_it_lists_messages_sent_to_a_number_from_a_sender_since_a_day(provider, fake_twilio, twilio_account):
    from datetime import UTC, datetime, timedelta

    mine = send(provider).provider_sid
    send(provider, to="+14155550000")
    old = fake_twilio.add_message(
        twilio_account.sid, to=RECIPIENT, from_number=TWILIO_LONG_CODE, body="Old", at=time.time() - 3 * 86400
    )
    since = datetime.now(UTC) - timedelta(minutes=1)
    found = provider.find_sent(to=RECIPIENT, from_number=TWILIO_LONG_CODE, sent_since=since, limit=20)
    assert [m.provider_sid for m in found] == [mine]
    earlier = provider.find_sent(
        to=RECIPIENT, from_number=None, sent_since=since - timedelta(days=4), limit=20
    )
    assert [m.provider_sid for m in earlier] == [mine, old.sid]
