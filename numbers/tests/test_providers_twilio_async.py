"""The Twilio adapter's async send (the delivery engine's) against the fake Twilio over real HTTP:
the same answers and errors as the library-based `send`, many sends in flight on one pool."""

import asyncio
import logging
import time

import pytest

from messaging_platform.testing.fake_twilio import FakeTwilio
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE, TWILIO_POOL_NUMBER, TWILIO_SERVICE_SID
from numbers.models import ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import (
    PermanentProviderError,
    ProviderAuthError,
    TransientProviderError,
    async_sender,
)
from numbers.providers.twilio import TwilioProvider, close_async_sessions

RECIPIENT = "+14155550100"


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


def kwargs_of(**overrides):
    kwargs = {
        "to": RECIPIENT,
        "from_number": TWILIO_LONG_CODE,
        "body": "Hello",
        "media_urls": [],
        "status_callback": None,
    }
    kwargs.update(overrides)
    return kwargs


def run(*coroutines):
    """Run sends on a fresh loop, as gather(return_exceptions) answers, and close its pools."""

    async def main():
        try:
            return await asyncio.gather(*coroutines, return_exceptions=True)
        finally:
            await close_async_sessions()

    return asyncio.run(main())


def send(provider, **overrides):
    [result] = run(provider.send_async(**kwargs_of(**overrides)))
    if isinstance(result, BaseException):
        raise result
    return result


def test_the_twilio_adapter_offers_an_async_send(provider):
    assert async_sender(provider) == provider.send_async
    assert async_sender(get_provider(ProviderAccount(provider="simulator"))) is None


def test_it_sends_a_message_and_returns_the_carrier_sid(provider, fake_twilio):
    result = send(provider, status_callback="https://platform.example.com/cb?message_id=msg_1")

    assert result.provider_sid.startswith("SM") and len(result.provider_sid) == 34
    assert result.status == "queued"
    [message] = fake_twilio.messages
    assert (message.sid, message.to, message.from_number, message.body) == (
        result.provider_sid,
        RECIPIENT,
        TWILIO_LONG_CODE,
        "Hello",
    )
    assert message.status_callback == "https://platform.example.com/cb?message_id=msg_1"


def test_media_urls_go_as_repeated_params(provider, fake_twilio):
    send(provider, body="", media_urls=["https://example.com/a.jpg", "https://example.com/b.png"])

    assert fake_twilio.messages[0].media_urls == ("https://example.com/a.jpg", "https://example.com/b.png")


def test_without_a_from_number_it_sends_through_the_messaging_service(twilio_account, fake_twilio):
    result = send(provider_for(twilio_account, messaging_service_sid=TWILIO_SERVICE_SID), from_number=None)

    assert result.status == "accepted"
    assert fake_twilio.messages[0].from_number == TWILIO_POOL_NUMBER


def test_without_any_sender_it_refuses_before_calling_twilio(provider, fake_twilio):
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
def test_refusals_are_permanent_with_twilios_code_and_message(provider, fake_twilio, overrides, code):
    with pytest.raises(PermanentProviderError) as caught:
        send(provider, **overrides)

    error = caught.value
    assert (error.code, error.status, error.permanent) == (code, 400, True)
    assert error.message and not error.message.startswith("HTTP")


def test_wrong_credentials_are_an_auth_error(twilio_account, fake_twilio):
    with pytest.raises(ProviderAuthError) as caught:
        send(provider_for(twilio_account, token="not-the-token"))

    assert (caught.value.code, caught.value.status) == ("20003", 401)
    assert fake_twilio.messages == []


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(provider, fake_twilio, status):
    fake_twilio.fail_next(1, status=status)

    with pytest.raises(TransientProviderError) as caught:
        send(provider)

    assert caught.value.status == status
    assert send(provider).provider_sid


def test_a_429_is_transient_with_its_retry_after(provider, fake_twilio):
    fake_twilio.fail_next(1, status=429, retry_after=7)

    with pytest.raises(TransientProviderError) as caught:
        send(provider)

    assert (caught.value.code, caught.value.status, caught.value.retry_after) == ("20429", 429, 7.0)


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


def test_many_sends_in_flight_share_a_few_keep_alive_connections(provider, fake_twilio, settings):
    settings.TWILIO_MAX_CONNECTIONS = 8
    fake_twilio.latency = 0.05

    started = time.monotonic()
    results = run(*(provider.send_async(**kwargs_of(body=f"m{i}")) for i in range(80)))
    elapsed = time.monotonic() - started

    assert all(not isinstance(r, BaseException) for r in results)
    assert sorted(m.body for m in fake_twilio.messages) == sorted(f"m{i}" for i in range(80))
    assert len({r.provider_sid for r in results}) == 80
    # 80 sends of 50 ms each over 8 connections: about 0.5 s, far from 4 s one after another.
    assert elapsed < 2.5
    assert fake_twilio.connections_opened <= 8


def test_the_auth_token_never_appears_in_errors_or_logs(twilio_account, fake_twilio, caplog):
    caplog.set_level(logging.DEBUG)
    fake_twilio.down = True
    with pytest.raises(TransientProviderError) as caught:
        send(provider_for(twilio_account))

    assert twilio_account.auth_token not in str(caught.value)
    assert twilio_account.auth_token not in caplog.text
