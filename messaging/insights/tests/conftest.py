from datetime import UTC, datetime

import pytest
from django.utils import timezone

from messaging.models import Message
from numbers.models import PhoneNumber, ProviderAccount

from .traffic import OTHER_SENDER, OURS


@pytest.fixture
def accounts(workspace):
    twilio = ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", name="Main", is_primary=True
    )
    telnyx = ProviderAccount.objects.create(
        workspace=workspace, provider="telnyx", name="Backup", is_primary=False
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=OURS, account=None)
    PhoneNumber.objects.create(workspace=workspace, phone_number=OTHER_SENDER, account=telnyx)
    return twilio, telnyx


@pytest.fixture
def clock(monkeypatch):
    """timezone.now() as the test sets it (the lifecycle's and the history rows' clock)."""
    state = {"now": datetime(2026, 11, 30, 9, 50, tzinfo=UTC)}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])
    # Message.created_at's default is the function itself, taken when the model was defined.
    monkeypatch.setitem(Message._meta.get_field("created_at").__dict__, "_get_default", lambda: state["now"])
    return state
