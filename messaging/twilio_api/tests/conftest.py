"""A live server (daphne, in its own process, on the test database) with a workspace on the fake
Twilio, and Twilio's own SDK pointed at it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from messaging_platform.testing.fake_twilio import FakeAccount, FakeNumber, FakeTwilio
from messaging_platform.testing.live_server import LiveServer
from numbers.models import ProviderAccount
from workspaces.models import Membership, Workspace
from workspaces.services import api_key_create, auth_token_create

from .receiver import AppServer

OUR_NUMBER = "+12025550100"
TWILIO_ORIGIN = "https://api.twilio.com"


class LiveServerHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending what it builds for api.twilio.com to the live server."""

    def __init__(self, base_url: str):
        super().__init__(timeout=15)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN) :]
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def carrier():
    # Posts `sent` and `delivered` status callbacks to the platform, as Twilio does.
    with FakeTwilio(callbacks=True, callback_delay=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, carrier):
    server = LiveServer(
        env={
            "TWILIO_API_BASE_URL": carrier.base_url,
            # The test's application servers listen on loopback, over plain HTTP.
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_ALLOW_HTTP": "true",
            "API_KEY_RATE_LIMIT": "1000/m",
        }
    ).start()
    yield server
    server.stop()


@pytest.fixture
def app_server():
    server = AppServer()
    yield server
    server.close()


@dataclass
class CompatAccount:
    workspace: Workspace
    account_sid: str
    auth_token: str
    api_key: str
    carrier_account: FakeAccount
    number: str


@pytest.fixture
def make_compat_account(request, transactional_db, carrier, make_user):
    from numbers.models import PhoneNumber
    from workspaces.services import workspace_create

    def make(number: str = OUR_NUMBER, name: str = "Acme") -> CompatAccount:
        user = make_user()
        workspace = workspace_create(user=user, name=name)
        owner = Membership.objects.get(workspace=workspace, user=user)
        fake = carrier.add_account(numbers=[FakeNumber(number, friendly_name="Main line")])
        ProviderAccount.objects.create(
            workspace=workspace, provider="twilio", account_sid=fake.sid, auth_token=fake.auth_token
        )
        PhoneNumber.objects.create(
            workspace=workspace,
            phone_number=number,
            is_default=True,
            mms_enabled=True,
            friendly_name="Main line",
        )
        token = auth_token_create(actor=owner, name="SDK").token
        key = api_key_create(actor=owner, name="SDK").key
        return CompatAccount(workspace, workspace.account_sid, token, key, fake, number)

    yield make
    if "live" in request.fixturenames:
        live_work_settle(carrier)


def live_work_settle(carrier: FakeTwilio, timeout: float = 30.0) -> None:
    """Wait, before the test database is emptied, for the live server to finish what the test
    started: its sends handed to the carrier and the carrier's status callbacks answered. A callback
    still being applied while the database is emptied can deadlock the emptying."""
    from messaging.models import Message, Status

    deadline = time.monotonic() + timeout
    due = Message.objects.filter(status__in=(Status.QUEUED, Status.SENDING))
    while due.exists():
        assert time.monotonic() < deadline, f"messages still waiting for the carrier: {list(due)}"
        time.sleep(0.05)
    carrier.wait_for_callbacks_posted(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def account(make_compat_account) -> CompatAccount:
    return make_compat_account()


def wait_for_sent(carrier: FakeTwilio, to: str, timeout: float = 20.0):
    """The first message the carrier received for `to`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in carrier.messages if m.to == to]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"the carrier received nothing for {to} within {timeout}s")


def sdk_client(live: LiveServer, username: str, password: str) -> Client:
    return Client(username, password, http_client=LiveServerHttpClient(live.url))


@pytest.fixture
def client(live, account) -> Client:
    return sdk_client(live, account.account_sid, account.auth_token)
