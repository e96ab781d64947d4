"""Reconciling with the carrier: messages left `sent`, sends a dead worker left `sending`, and the
sweep's re-enqueueing of stale queued messages measured against what the broker still holds.
Carrier calls go to the fake Twilio over HTTP through the real twilio library."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, MessageEvent, Status
from messaging.sweeps import reconcile_sent_messages, sweep_messages
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from numbers.providers.simulator import FAILED_NUMBER, UNDELIVERED_NUMBER, SimulatorProvider

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"


@pytest.fixture
def sent_message(api_client, twilio_workspace, fake_twilio, django_capture_on_commit_callbacks):
    """A message the carrier took (the fake posts no receipts: as if our endpoint was down)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "Hi there"}, format="json")
    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Status.SENT
    return message


def age(message: Message, **delta) -> None:
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(**delta))


def fetches(fake_twilio, message: Message) -> int:
    return sum(
        1
        for r in fake_twilio.requests
        if r.method == "GET" and r.path.endswith(f"/Messages/{message.provider_sid}.json")
    )


def reconcile(capture) -> int:
    with capture(execute=True):
        return reconcile_sent_messages()


# --- 1. messages left `sent` -------------------------------------------------------------------


def test_a_message_left_sent_takes_the_status_the_carrier_reports(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    age(sent_message, minutes=15)
    assert reconcile(django_capture_on_commit_callbacks) == 1
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
    assert sent_message.delivered_at is not None
    assert sent_message.carrier_checked_at is not None
    assert fetches(fake_twilio, sent_message) == 1
    assert (
        MessageEvent.objects.filter(message=sent_message, status=Status.DELIVERED, source="reconcile").count()
        == 1
    )


def test_it_brings_the_carriers_error_code_for_an_undelivered_message(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.set_message_status(sent_message.provider_sid, "undelivered", 30003)
    age(sent_message, minutes=15)
    reconcile(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.UNDELIVERED, "30003")


def test_it_leaves_recent_and_too_old_messages_alone(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    age(sent_message, minutes=2)
    assert reconcile(django_capture_on_commit_callbacks) == 0
    age(sent_message, days=4)
    assert reconcile(django_capture_on_commit_callbacks) == 0
    assert fetches(fake_twilio, sent_message) == 0


def test_a_message_still_sent_at_the_carrier_is_asked_again_only_after_a_backoff(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.set_message_status(sent_message.provider_sid, "sent")
    age(sent_message, minutes=40)
    reconcile(django_capture_on_commit_callbacks)
    reconcile(django_capture_on_commit_callbacks)
    assert fetches(fake_twilio, sent_message) == 1
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT
    assert not MessageEvent.objects.filter(message=sent_message, source="reconcile").exists()
    # The wait grows with the message's age: 40 minutes old, asked again in about 40 minutes.
    wait = sent_message.carrier_check_after - sent_message.carrier_checked_at
    assert timedelta(minutes=39) < wait < timedelta(minutes=41)
    Message.objects.filter(pk=sent_message.pk).update(
        carrier_check_after=timezone.now() - timedelta(seconds=1)
    )
    fake_twilio.set_message_status(sent_message.provider_sid, "delivered")
    reconcile(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
    assert fetches(fake_twilio, sent_message) == 2


def test_a_carrier_outage_during_reconciliation_never_fails_the_message(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    age(sent_message, minutes=15)
    fake_twilio.down = True
    reconcile(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT
    assert sent_message.carrier_check_after > timezone.now()
    fake_twilio.down = False
    Message.objects.filter(pk=sent_message.pk).update(carrier_check_after=None)
    reconcile(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


def test_the_simulator_reports_the_outcome_it_planned():
    provider = SimulatorProvider()
    for to, status, code in (
        (CONTACT, "delivered", None),
        (UNDELIVERED_NUMBER, "undelivered", "30003"),
        (FAILED_NUMBER, "failed", "30008"),
    ):
        sid = provider.send(
            to=to, from_number="+12015550123", body="x", media_urls=[], status_callback=None
        ).provider_sid
        found = provider.fetch_message(provider_sid=sid)
        assert (found.status, found.error_code) == (status, code)


# --- 2. sends a dead worker left `sending` -----------------------------------------------------


def abandon(message: Message, *, minutes: int = 5) -> None:
    """What a worker killed after the carrier took the message, before storing its sid, leaves."""
    Message.objects.filter(pk=message.pk).update(
        status=Status.SENDING,
        provider_sid=None,
        sent_at=None,
        claimed_at=timezone.now() - timedelta(minutes=minutes),
    )


def sweep(capture) -> dict:
    with capture(execute=True):
        return sweep_messages()


def test_an_abandoned_send_the_carrier_took_is_marked_sent_not_sent_again(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    [taken] = fake_twilio.messages
    abandon(sent_message, minutes=1)
    assert sweep(django_capture_on_commit_callbacks)["sending"] == 0  # the lease has not passed
    abandon(sent_message)
    assert sweep(django_capture_on_commit_callbacks)["sending"] == 1
    sent_message.refresh_from_db()
    assert sent_message.provider_sid == taken.sid
    assert sent_message.status == Status.DELIVERED  # and the carrier's later status came along
    assert len(fake_twilio.messages) == 1  # no second send
    lists = [r for r in fake_twilio.requests if r.method == "GET" and r.path.endswith("/Messages.json")]
    assert len(lists) == 1


def test_an_abandoned_send_the_carrier_never_got_is_sent_again(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    abandon(sent_message)
    fake_twilio.reset()  # the carrier has no record of it
    assert sweep(django_capture_on_commit_callbacks)["sending"] == 1
    sent_message.refresh_from_db()
    [resent] = fake_twilio.messages
    assert sent_message.status == Status.SENT
    assert sent_message.provider_sid == resent.sid


def test_an_identical_message_taken_before_the_claim_is_not_mistaken_for_it(
    sent_message, fake_twilio, twilio_account, django_capture_on_commit_callbacks
):
    abandon(sent_message)
    fake_twilio.reset()
    earlier = fake_twilio.add_message(
        twilio_account.sid,
        to=CONTACT,
        from_number=TWILIO_LONG_CODE,
        body="Hi there",
        at=(timezone.now() - timedelta(minutes=20)).timestamp(),
    )
    sweep(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert sent_message.provider_sid not in (None, earlier.sid)
    assert len(fake_twilio.messages) == 2


def test_a_carrier_outage_during_the_lookup_leaves_it_for_a_later_sweep(
    sent_message, fake_twilio, django_capture_on_commit_callbacks
):
    abandon(sent_message)
    fake_twilio.reset()
    fake_twilio.down = True
    assert sweep(django_capture_on_commit_callbacks)["sending"] == 1
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENDING
    assert sweep(django_capture_on_commit_callbacks)["sending"] == 0  # not before the lease again
    fake_twilio.down = False
    Message.objects.filter(pk=sent_message.pk).update(carrier_check_after=timezone.now())
    sweep(django_capture_on_commit_callbacks)
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT
    assert len(fake_twilio.messages) == 1


# --- the lease ----------------------------------------------------------------------------------


def test_it_warns_when_the_send_lease_is_not_well_above_the_carrier_timeout(settings):
    from messaging.checks import check_send_lease

    assert check_send_lease() == []
    settings.SEND_LEASE_SECONDS = 15
    [warning] = check_send_lease()
    assert warning.id == "messaging.W001"
