"""pytest fixtures for the fake carriers (registered in the root conftest.py), and the emptying of
the test database after a transactional test made safe against a live server still writing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.test import TransactionTestCase

from .fake_smsc import FakeSmsc
from .fake_telnyx import FakeTelnyx, FakeTelnyxAccount
from .fake_twilio import FakeAccount, FakeNumber, FakeTwilio


def _deadlocked(exc: BaseException | None) -> bool:
    while exc is not None:
        if type(exc).__name__ == "DeadlockDetected":  # psycopg.errors, under Django's wrapper
            return True
        exc = exc.__cause__
    return False


_flush = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]  # private, not in the stubs


def _flush_again_after_a_deadlock(self: TransactionTestCase) -> None:
    """Empty the test database after a transactional test, once more if it deadlocked.

    A live server or worker of the test may still be applying the last status callback while the
    database is emptied; TRUNCATE locks table after table and can deadlock with it. PostgreSQL
    then ends one of the two; when that is the emptying, the other commits and a second try
    empties all. Without it the rows stay and every later test of the run sees them.
    """
    for attempt in range(3):
        try:
            return _flush(self)
        except CommandError as exc:
            if attempt == 2 or not _deadlocked(exc):
                raise
            time.sleep(0.2)


TransactionTestCase._fixture_teardown = _flush_again_after_a_deadlock  # type: ignore[attr-defined]


# The numbers of the `twilio_account` fixture's account (fictional 555-01XX numbers).
TWILIO_LONG_CODE = "+12025550100"
TWILIO_TOLL_FREE = "+18885550100"
TWILIO_POOL_NUMBER = "+12025550101"  # in the account's Messaging Service
TWILIO_SERVICE_SID = "MG" + "0" * 31 + "1"


@pytest.fixture
def fake_twilio(settings) -> Iterator[FakeTwilio]:
    """A running fake Twilio; settings.TWILIO_API_BASE_URL points at it for this test."""
    with FakeTwilio() as server:
        settings.TWILIO_API_BASE_URL = server.base_url
        yield server


@pytest.fixture
def make_twilio_account(fake_twilio: FakeTwilio) -> Callable[..., FakeAccount]:
    """make_twilio_account(sid=None, auth_token=None, *, numbers=(), services=None, ...) -> FakeAccount:
    an account the fake knows (random AC sid and token unless given)."""

    def make(*args: Any, **kwargs: Any) -> FakeAccount:
        return fake_twilio.add_account(*args, **kwargs)

    return make


@pytest.fixture
def twilio_account(make_twilio_account: Callable[..., FakeAccount]) -> FakeAccount:
    """An account with a long code (SMS, MMS, voice), a toll-free number (SMS only) and a
    Messaging Service whose pool holds one more long code."""
    return make_twilio_account(
        numbers=[
            FakeNumber(TWILIO_LONG_CODE, friendly_name="Main line"),
            FakeNumber(TWILIO_TOLL_FREE, mms=False, voice=False, friendly_name="Toll-free"),
        ],
        services={TWILIO_SERVICE_SID: [TWILIO_POOL_NUMBER]},
    )


TELNYX_NUMBER = "+12025550142"


@pytest.fixture
def fake_telnyx(settings) -> Iterator[FakeTelnyx]:
    """A running fake Telnyx; settings.TELNYX_API_BASE_URL points at it for this test."""
    with FakeTelnyx() as server:
        settings.TELNYX_API_BASE_URL = server.base_url
        yield server


@pytest.fixture
def telnyx_account(fake_telnyx: FakeTelnyx) -> FakeTelnyxAccount:
    """An account of the fake Telnyx with one number, TELNYX_NUMBER."""
    return fake_telnyx.add_account(numbers=[TELNYX_NUMBER])


# SMPP ---------------------------------------------------------------------------------------

SMPP_SYSTEM_ID = "platform"
SMPP_PASSWORD = "s3cr3t"  # SMPP 3.4: at most 8 characters
SMPP_SENDER = "+12025550188"


@pytest.fixture
def fake_smsc() -> Iterator[FakeSmsc]:
    """A running fake SMSC on loopback that knows the account SMPP_SYSTEM_ID / SMPP_PASSWORD."""
    with FakeSmsc() as smsc:
        smsc.add_account(SMPP_SYSTEM_ID, SMPP_PASSWORD)
        yield smsc
