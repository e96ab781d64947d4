"""The lists' exact totals from counters (messaging.list_counts): after every kind of change the
counters answer what `COUNT(*)` answers, for every filter they serve, and the lists' `totalItems`
is that number."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import broadcasts, carrier_events, contacts, lifecycle, list_counts, selectors
from messaging.lifecycle import Failed, RetryLater, Sent, StatusReport
from messaging.models import Contact, Conversation, Direction, ListCount, Message, Status
from messaging.operations.models import RetentionPolicy
from messaging.operations.retention import apply_retention, message_redact
from messaging.tests.conftest import CONTACT, OUR_NUMBER
from messaging.tests.test_inbound_filing import stored_inbound
from messaging.twilio_api.services import message_delete
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("The counters are kept by PostgreSQL triggers; SQLite counts its rows directly.")


def counted(queryset: QuerySet) -> int:
    """What the database counts, bypassing the counters."""
    return QuerySet.count(queryset)


def windows() -> list[dict]:
    """Date filters with whole days, partial days at either end, and neither."""
    return [
        {},
        {"startDate": "2026-06-14"},
        {"endDate": "2026-06-14"},
        {"startDate": "2026-06-13T18:00:00Z", "endDate": "2026-06-15T12:30:00Z"},
        {"startDate": "2026-06-15T06:00:00Z"},
        {"startDate": "2026-06-01", "endDate": "2026-06-30"},
        {"startDate": "2026-06-15T13:00:00Z", "endDate": "2026-06-15T11:00:00Z"},
    ]


def assert_exact(*workspaces: Workspace) -> None:
    """Every total the counters serve is the database's count, in each workspace."""
    for workspace in workspaces:
        for window in windows():
            for keys in [
                {},
                *({"direction": d} for d in Direction.values),
                *({"status": s} for s in Status.values),
                {"direction": "outbound", "status": "delivered"},
                *(
                    {side: number, **extra}
                    for side in ("from", "to")
                    for number in (OUR_NUMBER, CONTACT)
                    for extra in ({}, {"direction": "inbound"}, {"status": "failed"})
                ),
            ]:
                filters = {**window, **keys}
                found = selectors.message_list(workspace=workspace, filters=filters)
                assert found.count() == counted(found), filters
        conversations = selectors.conversation_list(workspace=workspace)
        assert conversations.count() == counted(conversations)
        people = contacts.contact_list(workspace=workspace)
        assert people.count() == counted(people)


def make(workspace, n=1, *, status=Status.QUEUED, direction="outbound", at=None, **fields) -> list[Message]:
    at = at or timezone.now()
    messages = [
        Message(
            workspace=workspace,
            direction=direction,
            status=status,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"m{i}",
            created_at=at + timedelta(microseconds=i),
            **fields,
        )
        for i in range(n)
    ]
    Message.objects.bulk_create(messages)
    return messages


@pytest.fixture
def spread(workspace, other_workspace):
    """Messages over several days, hours and statuses in two workspaces."""
    for days, hours in ((0, 0), (1, -6), (1, 5), (2, 0), (20, 0), (40, 0)):
        at = NOW - timedelta(days=days, hours=hours)
        for status, direction in (
            (Status.DELIVERED, "outbound"),
            (Status.FAILED, "outbound"),
            (Status.RECEIVED, "inbound"),
        ):
            make(workspace, 2, status=status, direction=direction, at=at)
            make(other_workspace, 1, status=status, direction=direction, at=at)
    assert_exact(workspace, other_workspace)


def test_the_counters_answer_the_database_count_for_every_filter_they_serve(spread, workspace):
    assert selectors.message_list(workspace=workspace, filters={}).count() == 36
    assert (
        selectors.message_list(
            workspace=workspace, filters={"status": "failed", "startDate": "2026-06-14"}
        ).count()
        == 6
    )


def test_sends_and_every_step_of_delivery_keep_them_exact(send, workspace, other_workspace):
    for i in range(3):
        assert send(body=f"hello {i}").status_code == 201
    assert_exact(workspace, other_workspace)
    queued = make(workspace, 6)
    claimed = lifecycle.messages_claim(message_ids=[m.id for m in queued])
    assert_exact(workspace)
    lifecycle.messages_mark_sent([Sent(claimed[0].id, "SMa"), Sent(claimed[1].id, "SMb")])
    lifecycle.messages_fail([Failed(claimed[2].id, "21211", "Invalid")])
    lifecycle.messages_retry_later([RetryLater(claimed[3].id, 1, "busy")], wake=False)
    assert_exact(workspace)
    lifecycle.messages_apply_statuses(
        [
            StatusReport(claimed[0].id, Status.DELIVERED),
            StatusReport(claimed[1].id, Status.UNDELIVERED, "30005"),
        ]
    )
    lifecycle.messages_requeue(message_ids=[claimed[1].id, claimed[2].id], wake=False)
    assert_exact(workspace, other_workspace)
    assert lifecycle.messages_claim_due(limit=100)
    assert_exact(workspace)


def test_scheduling_cancel_release_and_expiry_keep_them_exact(workspace):
    later = make(workspace, 3, status=Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1))
    lifecycle.message_cancel(message=later[0])
    assert_exact(workspace)
    lifecycle.messages_release_scheduled(limit=10, wake=False)
    assert_exact(workspace)
    make(workspace, 2, expires_at=timezone.now() - timedelta(seconds=1))
    assert len(lifecycle.messages_expire_unsent(code="expired", reason="Too late", limit=10)) == 2
    assert_exact(workspace)


def test_batches_broadcasts_and_their_cancel_keep_them_exact(
    api_client, our_number, owner_client, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/messages/batch",
            {"messages": [{"to": f"+1415555{2000 + i:04d}", "body": f"batch {i}"} for i in range(25)]},
            format="json",
        )
    assert response.status_code in (200, 201, 207), response.content
    assert_exact(workspace)
    for i in range(30):
        Contact.objects.create(workspace=workspace, phone_number=f"+1415555{3000 + i:04d}", tags=["vip"])
    with django_capture_on_commit_callbacks(execute=True):
        made = owner_client.post(
            f"/api/ui/workspaces/{workspace.id}/broadcasts",
            {
                "name": "Sale",
                "body": "Hi",
                "audience": {"tags": ["vip"]},
                "scheduled_at": (timezone.now() + timedelta(hours=1)).isoformat(),
            },
            format="json",
        ).json()
    broadcast = broadcasts.Broadcast.objects.get(pk=made["id"])
    broadcasts.broadcast_generate(broadcast_id=broadcast.id)
    assert_exact(workspace)
    broadcasts.broadcast_cancel(broadcast=broadcast)
    assert_exact(workspace)


def test_inbound_filing_redaction_retention_and_deletes_keep_them_exact(twilio_workspace, other_workspace):
    for n in range(4):
        stored_inbound(twilio_workspace, from_number=f"+1415555010{n}", body=f"hi {n}")
    assert carrier_events.carrier_events_apply() == 4
    assert_exact(twilio_workspace)
    old = make(twilio_workspace, 5, status=Status.DELIVERED, at=timezone.now() - timedelta(days=90))
    message_redact(message=old[0])
    RetentionPolicy.objects.create(workspace=twilio_workspace, body_retention_days=30, mask_numbers=True)
    assert apply_retention() >= 4
    assert_exact(twilio_workspace)
    message_delete(message=old[1])
    Message.objects.filter(pk__in=[old[2].pk, old[3].pk]).delete()
    conversation = Conversation.objects.filter(workspace=twilio_workspace).first()
    Message.objects.filter(conversation=conversation).delete()  # its last message goes: unlisted
    contacts.contact_delete(contact=Contact.objects.filter(workspace=twilio_workspace).first())
    assert_exact(twilio_workspace, other_workspace)


def test_a_deleted_workspace_takes_its_counters_along(spread, workspace, other_workspace):
    Contact.objects.create(workspace=workspace, phone_number=CONTACT)
    workspace.delete()
    assert not ListCount.objects.filter(workspace_id=workspace.pk).exists()
    assert_exact(other_workspace)


def test_the_lists_answer_the_counters_total_without_counting_the_messages(spread, owner_client, workspace):
    url = f"/api/ui/workspaces/{workspace.id}/messages"
    body = owner_client.get(url, {"status": "delivered", "limit": 5, "page": 2}).json()
    assert body["pagination"] == {
        "currentPage": 2,
        "totalPages": 3,
        "totalItems": 12,
        "hasNext": True,
        "totalMessages": 12,
    }
    assert len(body["data"]) == 5
    with CaptureQueriesContext(connection) as queries:
        owner_client.get(url, {"direction": "inbound"})
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert not any("messaging_message" in sql for sql in counts), counts
    # A filter the counters cannot serve is counted by the database, exactly.
    assert (
        owner_client.get(url, {"search": "m1"}).json()["pagination"]["totalItems"]
        == Message.objects.filter(workspace=workspace, body__icontains="m1").count()
    )
    api = owner_client.get(f"/api/ui/workspaces/{workspace.id}/conversations").json()
    assert (
        api["pagination"]["totalItems"]
        == Conversation.objects.filter(workspace=workspace, last_message__isnull=False).count()
    )


def test_the_rebuild_repairs_lost_counters_and_answers_the_same(spread, workspace, other_workspace):
    before = sorted(
        ListCount.objects.values_list("workspace_id", "kind", "day", "direction", "status").distinct()
    )
    ListCount.objects.filter(workspace_id=workspace.pk).update(n=999)
    assert list_counts.list_counts_rebuild(workspace_ids=[workspace.pk]) > 0
    assert_exact(workspace, other_workspace)
    ListCount.objects.all().delete()
    call_command("list_counts_rebuild")
    assert_exact(workspace, other_workspace)
    assert (
        sorted(ListCount.objects.values_list("workspace_id", "kind", "day", "direction", "status").distinct())
        == before
    )


def test_the_triggers_take_the_dashboards_slots(workspace):
    from messaging.insights.counting import ADVISORY_LOCK_CLASS, SLOTS

    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'messaging_count_messages'")
        [source] = cursor.fetchone()
    assert f"pg_try_advisory_xact_lock({ADVISORY_LOCK_CLASS}, g)" in source
    assert f"generate_series(0, {SLOTS - 1})" in source and f"pg_backend_pid() % {SLOTS}" in source


@pytest.mark.django_db(transaction=True)
def test_two_open_transactions_count_into_one_workspace_without_waiting(workspace):
    """Each writes its own slot: the second commits while the first is still open."""
    first_wrote, second_done = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():
                make(workspace, 2)
                first_wrote.set()
                assert second_done.wait(10), "the second transaction waited on the first"
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_wrote.wait(10)
    with transaction.atomic():
        make(workspace, 3)
    second_done.set()
    thread.join(15)
    assert not errors
    assert ListCount.objects.filter(workspace_id=workspace.pk).values("slot").distinct().count() == 2
    assert_exact(workspace)


def test_a_deep_page_is_the_same_page_as_an_offset_reads_for_every_filter(workspace, monkeypatch):
    monkeypatch.setattr(list_counts, "SEEK_FROM", 1)  # every page but the first through the counters
    for days in (0, 1, 3):  # ties: several messages in one microsecond
        at = NOW - timedelta(days=days, hours=3)
        make(workspace, 7, status=Status.DELIVERED, at=at)
        Message.objects.bulk_create(
            [
                Message(
                    workspace=workspace,
                    direction="inbound",
                    status=Status.RECEIVED,
                    to_number=OUR_NUMBER,
                    from_number=CONTACT,
                    body="tie",
                    created_at=at,
                )
                for _ in range(4)
            ]
        )
    for filters in (
        {},
        {"status": "delivered"},
        {"direction": "inbound"},
        {"startDate": "2026-06-12T10:00:00Z", "endDate": "2026-06-15"},
    ):
        found = selectors.message_list(workspace=workspace, filters=filters)
        everything = list(QuerySet.__getitem__(found, slice(0, None)))
        assert found.count() == len(everything)
        for offset in range(0, len(everything) + 3):
            page = list(found[offset : offset + 3])
            assert [m.pk for m in page] == [m.pk for m in everything[offset : offset + 3]], (filters, offset)
    Contact.objects.bulk_create(
        [
            Contact(
                workspace=workspace,
                phone_number=f"+1415556{i:04d}",
                created_at=NOW - timedelta(days=(0, 0, 2, 5)[i % 4]),
            )
            for i in range(12)
        ]
    )
    people = contacts.contact_list(workspace=workspace)
    everyone = list(QuerySet.__getitem__(people, slice(0, None)))
    assert people.count() == len(everyone) > 6
    for offset in range(0, len(everyone) + 2):
        assert [c.pk for c in people[offset : offset + 2]] == [c.pk for c in everyone[offset : offset + 2]]


def test_an_import_that_updates_some_contacts_and_adds_others_counts_only_the_new(workspace):
    Contact.objects.create(workspace=workspace, phone_number="+14155550001", name="Old")
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number=f"+141555500{i:02d}", name="New") for i in range(1, 6)],
        update_conflicts=True,
        unique_fields=["workspace", "phone_number"],
        update_fields=["name"],
    )
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number="+14155550002")], ignore_conflicts=True
    )
    assert contacts.contact_list(workspace=workspace).count() == 5
    assert_exact(workspace)


def test_compacting_folds_past_days_slots_into_one_row_and_keeps_every_total(
    spread, workspace, other_workspace
):
    with connection.cursor() as cursor:  # as if other transactions had written other slots
        cursor.execute(
            "INSERT INTO messaging_listcount (workspace_id, kind, day, direction, status, number, "
            "slot, n) SELECT workspace_id, kind, day, direction, status, number, 5, 0 "
            "FROM messaging_listcount WHERE workspace_id = %s",
            [workspace.pk],
        )
    make(workspace, 3, status=Status.DELIVERED, at=NOW - timedelta(days=40))
    rows = ListCount.objects.count()
    assert list_counts.list_counts_compact(before=NOW.date()) > 0
    assert ListCount.objects.count() < rows
    assert not ListCount.objects.filter(day__lt=NOW.date()).exclude(slot=list_counts.REBUILD_SLOT).exists()
    assert ListCount.objects.filter(day=NOW.date()).exclude(slot=list_counts.REBUILD_SLOT).exists()
    assert_exact(workspace, other_workspace)
    lifecycle.messages_requeue(
        message_ids=list(
            Message.objects.filter(workspace=workspace, status=Status.FAILED).values_list("pk", flat=True)
        ),
        wake=False,
    )
    assert_exact(workspace, other_workspace)
