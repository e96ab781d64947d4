"""The lifecycle module: every status change of one message or many, on the real database."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import events, lifecycle
from messaging.lifecycle import Failed, RetryLater, Sent, StatusReport, WaitForSlot
from messaging.models import Message, MessageEvent, Status
from messaging.serializers import MessageSerializer

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"


def make(workspace, status=Status.QUEUED, n=1, **fields) -> list[Message]:
    now = timezone.now()
    messages = [
        Message(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number=CONTACT,
            from_number="+12015550123",
            body=f"m{i}",
            created_at=now + timedelta(microseconds=i),
            **fields,
        )
        for i in range(n)
    ]
    Message.objects.bulk_create(messages)
    return messages


def statuses(messages) -> list[str]:
    by_id = dict(Message.objects.filter(pk__in=[m.id for m in messages]).values_list("pk", "status"))
    return [by_id[m.id] for m in messages]


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, list[dict]]]:
    calls: list[tuple[str, list[dict]]] = []
    monkeypatch.setattr(events, "publish_events", lambda ws, evs: calls.append((ws, evs)))
    return calls


def test_the_payload_has_every_field_the_api_schema_names_in_its_order(workspace):
    [message] = make(workspace)
    assert list(events.message_payload(message)) == list(MessageSerializer().fields)
    assert MessageSerializer(message).data == events.message_payload(message)
    assert events.message_payload(message)["created_at"].endswith("Z")


def test_a_batch_claim_takes_due_queued_messages_oldest_first_in_one_statement(
    workspace, django_capture_on_commit_callbacks, published
):
    due = make(workspace, n=5)
    later = make(workspace, next_attempt_at=timezone.now() + timedelta(minutes=5))
    scheduled = make(workspace, status=Status.SCHEDULED)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        claimed = lifecycle.messages_claim_due(limit=3)
    assert [m.id for m in claimed] == [m.id for m in due[:3]]
    assert all(m.status == Status.SENDING and m.attempts == 1 and m.claimed_at for m in claimed)
    updates = [
        q["sql"]
        for q in queries.captured_queries
        if "UPDATE" in q["sql"].split("(")[0] or q["sql"].startswith("WITH")
    ]
    assert len(updates) == 1
    assert "SKIP LOCKED" in updates[0] or connection.vendor != "postgresql"
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1  # the three events in one INSERT
    assert MessageEvent.objects.filter(status=Status.SENDING).count() == 3
    assert [len(evs) for _, evs in published] == [3]  # one publish for the batch
    assert statuses(due[3:] + later + scheduled) == [Status.QUEUED] * 3 + [Status.SCHEDULED]
    assert [m.id for m in lifecycle.messages_claim_due(limit=10)] == [m.id for m in due[3:]]
    assert lifecycle.messages_claim_due(limit=10) == []


def test_outcomes_of_a_batch_are_written_at_once_each_with_its_own_values(
    workspace, django_capture_on_commit_callbacks, published
):
    messages = make(workspace, n=4)
    lifecycle.messages_claim(message_ids=[m.id for m in messages])
    slot = time.time() + 30
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sent = lifecycle.messages_mark_sent([Sent(messages[0].id, "SM0"), Sent(messages[1].id, "SM1")])
        failed = lifecycle.messages_fail([Failed(messages[2].id, "21211", "Invalid number")])
        waiting = lifecycle.messages_wait_for_slot([WaitForSlot(messages[3].id, slot)])
    assert {m.id: m.provider_sid for m in sent} == {messages[0].id: "SM0", messages[1].id: "SM1"}
    assert [(m.error_code, m.error_message) for m in failed] == [("21211", "Invalid number")]
    [back] = waiting
    assert (back.status, back.attempts, back.claimed_at) == (Status.QUEUED, 0, None)
    assert back.next_attempt_at.timestamp() == pytest.approx(slot)
    assert statuses(messages) == [Status.SENT, Status.SENT, Status.FAILED, Status.QUEUED]
    assert len(callbacks) == 3 and len(published) == 3
    # A second write of the same outcomes changes nothing: statuses never go backwards.
    assert lifecycle.messages_mark_sent([Sent(messages[0].id, "SMX")]) == []
    assert lifecycle.messages_fail([Failed(messages[2].id, "x", "y")]) == []
    assert Message.objects.get(pk=messages[0].id).provider_sid == "SM0"


def test_retry_later_backs_off_and_gives_up_after_the_last_attempt(
    workspace, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.SEND_MAX_ATTEMPTS = 3
    woken = []
    monkeypatch.setattr(
        lifecycle.writes, "enqueue_send", lambda mid, countdown=None: woken.append((mid, countdown))
    )
    first, last = make(workspace, n=2)
    lifecycle.messages_claim(message_ids=[first.id, last.id])
    with django_capture_on_commit_callbacks(execute=True):
        done = lifecycle.messages_retry_later(
            [
                RetryLater(first.id, attempts=1, reason="503 from the carrier", retry_after=7),
                RetryLater(last.id, attempts=3, reason="timeout", code="timeout"),
            ]
        )
    assert {m.id: m.status for m in done} == {first.id: Status.QUEUED, last.id: Status.FAILED}
    first.refresh_from_db()
    last.refresh_from_db()
    assert first.next_attempt_at - timezone.now() > timedelta(seconds=6)
    assert (last.error_code, last.error_message) == ("timeout", "Gave up after 3 attempts: timeout")
    [(mid, countdown)] = woken
    assert mid == first.id and countdown >= 7


def test_giving_up_without_a_carrier_code_and_our_own_longer_codes_are_stored(
    workspace, settings, monkeypatch
):
    # `carrier_unavailable` and `provider_not_configured` are longer than 16 characters: the
    # column once refused them on PostgreSQL, and the message stayed `sending`.
    settings.SEND_MAX_ATTEMPTS = 1
    monkeypatch.setattr(lifecycle.writes, "enqueue_send", lambda *args, **kwargs: None)
    gave_up, unconfigured = make(workspace, n=2)
    lifecycle.messages_claim(message_ids=[gave_up.id, unconfigured.id])
    lifecycle.messages_retry_later([RetryLater(gave_up.id, attempts=1, reason="no answer")])
    lifecycle.messages_fail([Failed(unconfigured.id, "provider_not_configured", "No carrier account.")])
    assert dict(
        Message.objects.filter(pk__in=[gave_up.id, unconfigured.id]).values_list("pk", "error_code")
    ) == {gave_up.id: "carrier_unavailable", unconfigured.id: "provider_not_configured"}
    assert statuses([gave_up, unconfigured]) == [Status.FAILED, Status.FAILED]


def test_carrier_reports_apply_in_status_order_deduplicated_whatever_order_they_came_in(
    workspace, django_capture_on_commit_callbacks, published
):
    one, two = make(workspace, status=Status.SENDING, n=2)
    Message.objects.filter(pk=one.pk).update(provider_sid="SMa")
    reports = [
        StatusReport(one.id, Status.DELIVERED),
        StatusReport(two.id, Status.SENT, provider_sid="SMb"),
        StatusReport(one.id, Status.SENT),
        StatusReport(one.id, Status.DELIVERED),
        StatusReport(two.id, Status.UNDELIVERED, "30003", "Unreachable"),
        StatusReport(one.id, Status.SENDING),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        outcome = lifecycle.messages_apply_statuses(reports)
    assert outcome.refused == {}
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status, two.provider_sid, two.error_code) == (
        Status.DELIVERED,
        Status.UNDELIVERED,
        "SMb",
        "30003",
    )
    assert one.sent_at and one.delivered_at and two.sent_at
    history = list(MessageEvent.objects.filter(message=one).values_list("status", flat=True))
    assert history == [Status.SENT, Status.DELIVERED]
    assert [len(evs) for _, evs in published] == [2]  # the batch, once


def test_a_report_with_another_carrier_sid_is_refused_and_changes_nothing(workspace):
    mine, theirs = make(workspace, status=Status.SENT, n=2)
    Message.objects.filter(pk=mine.pk).update(provider_sid="SMmine")
    Message.objects.filter(pk=theirs.pk).update(provider_sid="SMtheirs")
    outcome = lifecycle.messages_apply_statuses(
        [StatusReport(mine.id, Status.DELIVERED, provider_sid="SMtheirs")]
    )
    assert list(outcome.refused) == [0] and outcome.moved == []
    assert statuses([mine]) == [Status.SENT]


def test_a_report_giving_a_sid_another_message_holds_is_refused_not_an_integrity_error(workspace):
    unsent, other = make(workspace, status=Status.SENDING, n=2)
    Message.objects.filter(pk=other.pk).update(provider_sid="SMother")
    outcome = lifecycle.messages_apply_statuses(
        [StatusReport(unsent.id, Status.SENT, provider_sid="SMother")]
    )
    assert list(outcome.refused) == [0]
    unsent.refresh_from_db()
    assert (unsent.status, unsent.provider_sid) == (Status.SENDING, None)


def test_a_scheduled_message_never_takes_a_carrier_status(workspace):
    [message] = make(workspace, status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1))
    outcome = lifecycle.messages_apply_statuses([StatusReport(message.id, Status.DELIVERED)])
    assert list(outcome.refused) == [0]
    assert statuses([message]) == [Status.SCHEDULED]


def test_sweeps_release_due_scheduled_and_requeue_only_the_same_abandoned_claim(
    workspace, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(lifecycle.writes, "enqueue_send", lambda *a, **k: None)
    [due] = make(workspace, status=Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1))
    [ahead] = make(workspace, status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1))
    assert [m.id for m in lifecycle.messages_release_scheduled(limit=10)] == [due.id]
    assert statuses([due, ahead]) == [Status.QUEUED, Status.SCHEDULED]
    [claimed] = lifecycle.messages_claim(message_ids=[due.id])
    assert lifecycle.messages_requeue_abandoned([(due.id, claimed.claimed_at - timedelta(seconds=1))]) == []
    [back] = lifecycle.messages_requeue_abandoned([(due.id, claimed.claimed_at)])
    assert (back.status, back.claimed_at) == (Status.QUEUED, None)


def test_cancel_and_operator_retry_move_only_messages_in_the_right_status(workspace, monkeypatch):
    monkeypatch.setattr(lifecycle.writes, "enqueue_send", lambda *a, **k: None)
    [scheduled] = make(workspace, status=Status.SCHEDULED)
    [queued] = make(workspace)
    [failed] = make(workspace, status=Status.FAILED, error_code="30003", attempts=3)
    canceled = lifecycle.messages_cancel(message_ids=[scheduled.id, queued.id, failed.id])
    assert [m.id for m in canceled] == [scheduled.id]
    [again] = lifecycle.messages_requeue(message_ids=[scheduled.id, queued.id, failed.id])
    assert (again.id, again.status, again.attempts, again.error_code) == (failed.id, Status.QUEUED, 0, None)
