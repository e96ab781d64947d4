import pytest

from messaging import urlsafety
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from numbers.models import PhoneNumber, ProviderAccount

OUR_NUMBER = "+12015550123"
CONTACT = "+14155552671"


@pytest.fixture
def simulator(workspace) -> ProviderAccount:
    return ProviderAccount.objects.create(workspace=workspace, provider="simulator")


@pytest.fixture
def our_number(workspace, simulator) -> PhoneNumber:
    return PhoneNumber.objects.create(
        workspace=workspace,
        phone_number=OUR_NUMBER,
        friendly_name="Main line",
        sms_enabled=True,
        mms_enabled=True,
        is_default=True,
    )


@pytest.fixture
def twilio_workspace(workspace, twilio_account):
    """A workspace on the fake Twilio, sending from its long code by default."""
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    PhoneNumber.objects.create(
        workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True, mms_enabled=True
    )
    return workspace


@pytest.fixture
def other_number(other_workspace) -> PhoneNumber:
    ProviderAccount.objects.create(workspace=other_workspace, provider="simulator")
    return PhoneNumber.objects.create(
        workspace=other_workspace, phone_number="+13125550100", is_default=True, mms_enabled=True
    )


@pytest.fixture
def send(api_client, our_number, django_capture_on_commit_callbacks):
    """POST /api/messages as the integrator, running what happens after commit (the worker)."""

    def post(headers: dict | None = None, **body):
        body.setdefault("to", CONTACT)
        body.setdefault("body", "Hello from the platform")
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post("/api/messages", body, format="json", **(headers or {}))

    return post


# Media and callback URLs are checked against the addresses their host resolves to; the tests'
# example hosts resolve to example.com's public address, without DNS. Tests that need other
# answers patch the resolver themselves.
EXAMPLE_DNS = {
    "example.com": ["93.184.216.34"],
    "e.com": ["93.184.216.34"],
    "cdn.example.com": ["93.184.216.34"],
}


@pytest.fixture(autouse=True)
def _example_hosts_resolve(monkeypatch):
    def resolve(host: str, port: int) -> list[str]:
        if host not in EXAMPLE_DNS:
            raise OSError("no such host")
        return EXAMPLE_DNS[host]

    monkeypatch.setattr(urlsafety, "resolve_host", resolve)
