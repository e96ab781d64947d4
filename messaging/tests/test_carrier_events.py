"""Applying stored carrier events in batches: statuses through the lifecycle, refusals, poison
events (attempts, backoff, dead letter, the admin's re-run) and a fair sweep, on the real
database. Callbacks are signed as Twilio signs them and go through the webhook."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import carrier_events
from messaging.models import CarrierEvent, Message, MessageEvent, Status
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import new_sid, signature_headers, status_params
from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"


@pytest.fixture
def post_status(client, twilio_account, twilio_workspace, django_capture_on_commit_callbacks):
    """POST a signed status callback for the workspace (naming `message` in the URL, as our
    status_callback does), running the worker's apply after commit."""

    def post(params: dict, message: Message | None = None):
        path = f"/webhooks/twilio/{twilio_workspace.id}/status"
        if message is not None:
            path += f"?message_id={message.id}"
        headers = signature_headers("http://testserver" + path, params, twilio_account.auth_token)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, params, headers=headers)

    return post


def outbound(workspace, status=Status.SENT, sid: str | None = None, **fields) -> Message:
    return Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status=status,
        to_number=CONTACT,
        from_number=TWILIO_LONG_CODE,
        body="Hi",
        provider_sid=sid,
        **fields,
    )


def poison(workspace, n: int = 1, **fields) -> list[CarrierEvent]:
    """Events that raise an unexpected error when applied (a payload no adapter can read)."""
    return [
        CarrierEvent.objects.create(
            workspace=workspace,
            provider="twilio",
            kind="status",
            dedupe_key=f"poison-{i}-{new_sid('SM')}",
            params=["not", "a", "form"],
            **fields,
        )
        for i in range(n)
    ]


def stored_status(workspace, message: Message, status: str) -> CarrierEvent:
    params = status_params(message_sid=message.provider_sid, status=status)
    return CarrierEvent.objects.create(
        workspace=workspace,
        provider="twilio",
        kind="status",
        dedupe_key=f"{message.provider_sid}:{status}",
        provider_sid=message.provider_sid,
        message=message,
        params=params,
    )


def test_a_callback_naming_a_message_with_another_messages_sid_is_refused_once(twilio_workspace, post_status):
    unsent = outbound(twilio_workspace, status=Status.SENDING)
    other = outbound(twilio_workspace, sid=new_sid("SM"))
    response = post_status(status_params(message_sid=other.provider_sid, status="delivered"), unsent)
    assert response.status_code == 204
    unsent.refresh_from_db()
    assert (unsent.status, unsent.provider_sid) == (Status.SENDING, None)
    event = CarrierEvent.objects.get(message=unsent)
    assert event.processed_at is not None and "another message" in event.error
    assert event.attempts == 0  # refused for good, not retried


def test_a_callback_whose_sid_differs_from_the_messages_does_not_move_it(twilio_workspace, post_status):
    mine = outbound(twilio_workspace, sid=new_sid("SM"))
    response = post_status(status_params(message_sid=new_sid("SM"), status="delivered"), mine)
    assert response.status_code == 204
    mine.refresh_from_db()
    assert mine.status == Status.SENT
    assert "is not the sid of" in CarrierEvent.objects.get(message=mine).error


def test_a_status_callback_does_not_deliver_a_scheduled_message(twilio_workspace, post_status):
    later = outbound(
        twilio_workspace, status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)
    )
    response = post_status(status_params(message_sid=new_sid("SM"), status="delivered"), later)
    assert response.status_code == 204
    later.refresh_from_db()
    assert (later.status, later.delivered_at, later.provider_sid) == (Status.SCHEDULED, None, None)
    assert "never handed to the carrier" in CarrierEvent.objects.get(message=later).error


def test_a_batch_applies_each_messages_statuses_in_order_whatever_order_they_were_stored(twilio_workspace):
    messages = [outbound(twilio_workspace, status=Status.SENDING, sid=new_sid("SM")) for _ in range(3)]
    for message in messages:
        for status in ("delivered", "sent", "sending"):
            stored_status(twilio_workspace, message, status)
    assert carrier_events.carrier_events_apply() == 9
    assert set(Message.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    for message in messages:
        assert list(MessageEvent.objects.filter(message=message).values_list("status", flat=True)) == [
            Status.SENT,
            Status.DELIVERED,
        ]
    assert not CarrierEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_poison_event_is_retried_with_backoff_then_dead_lettered_and_spares_its_batch(
    twilio_workspace, settings
):
    settings.CARRIER_EVENT_MAX_ATTEMPTS = 3
    [bad] = poison(twilio_workspace)
    message = outbound(twilio_workspace, sid=new_sid("SM"))
    good = stored_status(twilio_workspace, message, "delivered")
    carrier_events.carrier_events_apply()
    message.refresh_from_db()
    good.refresh_from_db()
    bad.refresh_from_db()
    assert message.status == Status.DELIVERED and good.processed_at is not None
    assert (bad.attempts, bad.processed_at, bad.dead_at) == (1, None, None)
    assert "AttributeError" in bad.error and bad.next_attempt_at > timezone.now()
    assert carrier_events.carrier_events_apply() == 0  # backing off: not run again at once
    for attempt in (2, 3):
        CarrierEvent.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
        assert carrier_events.carrier_events_apply() == 1
        bad.refresh_from_db()
        assert bad.attempts == attempt
    assert bad.dead_at is not None and bad.processed_at is None
    CarrierEvent.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
    assert carrier_events.carrier_events_apply() == 0  # dead-lettered: left for an operator


def test_the_intake_does_not_walk_past_dead_lettered_events(twilio_workspace):
    """Dead-lettered events stay unapplied for good and are the oldest: the intake's index leaves
    them out (messaging.0027), or every intake would read past all of them first."""
    if connection.vendor != "postgresql":
        pytest.skip("The partial index is PostgreSQL's plan.")
    dead = poison(twilio_workspace, n=30, dead_at=timezone.now(), attempts=10)
    CarrierEvent.objects.filter(pk__in=[e.pk for e in dead]).update(
        received_at=timezone.now() - timedelta(days=1)
    )
    message = outbound(twilio_workspace, sid=new_sid("SM"))
    stored_status(twilio_workspace, message, "delivered")
    with CaptureQueriesContext(connection) as queries:
        assert carrier_events.carrier_events_apply() == 1
    [take] = [q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table this small is read whole faster
        cursor.execute("EXPLAIN (ANALYZE) " + take)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "cev_due" in plan, plan
    assert "Rows Removed by Filter" not in plan, plan
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert CarrierEvent.objects.filter(dead_at__isnull=False, processed_at__isnull=True).count() == 30


def test_the_sweep_is_fair_one_workspaces_poison_does_not_hold_back_anothers_events(
    twilio_workspace, other_workspace, settings, django_capture_on_commit_callbacks
):
    settings.CARRIER_EVENT_BATCH_SIZE = 10
    ProviderAccount.objects.create(
        workspace=other_workspace, provider="twilio", account_sid="AC" + "1" * 32, auth_token="t" * 32
    )
    long_ago = timezone.now() - timedelta(minutes=5)
    bad = poison(twilio_workspace, n=30)
    theirs = [outbound(other_workspace, sid=new_sid("SM")) for _ in range(5)]
    good = [stored_status(other_workspace, message, "delivered") for message in theirs]
    CarrierEvent.objects.update(received_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert carrier_events.sweep_carrier_events() == 2  # one apply per workspace
    assert set(Message.objects.filter(workspace=other_workspace).values_list("status", flat=True)) == {
        Status.DELIVERED
    }
    assert not CarrierEvent.objects.filter(pk__in=[e.pk for e in good], processed_at__isnull=True).exists()
    attempts = CarrierEvent.objects.filter(pk__in=[e.pk for e in bad]).values_list("attempts", flat=True)
    assert set(attempts) == {1}
    with django_capture_on_commit_callbacks(execute=True):
        assert carrier_events.sweep_carrier_events() == 0  # the poison backs off


def test_an_operator_sees_dead_lettered_events_in_the_admin_and_has_them_applied_again(
    twilio_workspace, settings, django_capture_on_commit_callbacks
):
    settings.CARRIER_EVENT_MAX_ATTEMPTS = 1
    message = outbound(twilio_workspace, sid=new_sid("SM"))
    [dead] = poison(twilio_workspace, message=message)
    carrier_events.carrier_events_apply()
    dead.refresh_from_db()
    assert dead.dead_at is not None
    operator = Client()
    operator.force_login(
        get_user_model().objects.create_superuser(
            email="ops@example.com", password="ops-pass-123", name="Ops"
        )
    )
    changelist = reverse("admin:messaging_carrierevent_changelist")
    listed = operator.get(changelist, {"dead_at__isempty": "0"})
    assert listed.status_code == 200 and dead.id in listed.content.decode()
    # The cause is fixed (here: the payload), and the operator re-runs the event.
    CarrierEvent.objects.filter(pk=dead.pk).update(
        params=status_params(message_sid=message.provider_sid, status="delivered")
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(changelist, {"action": "apply_again", "_selected_action": [dead.id]})
    assert response.status_code == 302
    dead.refresh_from_db()
    message.refresh_from_db()
    assert (dead.dead_at, dead.error) == (None, "") and dead.processed_at is not None
    assert message.status == Status.DELIVERED
