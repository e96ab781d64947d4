from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from conftest import assert_error, uses_postgres
from messaging import broadcasts, validity
from messaging.broadcasts import generation
from messaging.models import Broadcast, Contact, Message, MessageTemplate, OptOut

pytestmark = pytest.mark.django_db

LA = "+14155552671"  # San Francisco: America/Los_Angeles
NY = "+12125552671"  # New York: America/New_York
PARIS = "+33612345678"


def url(workspace, rest=""):
    return f"/api/ui/workspaces/{workspace.id}/broadcasts{rest}"


@pytest.fixture
def people(workspace):
    return {
        "ana": Contact.objects.create(
            workspace=workspace, phone_number=LA, name="Ana", fields={"city": "San Francisco"}, tags=["vip"]
        ),
        "ben": Contact.objects.create(workspace=workspace, phone_number=NY, name="Ben", tags=["vip"]),
        "chloe": Contact.objects.create(
            workspace=workspace, phone_number=PARIS, name="Chloé", fields={"city": "Paris"}, tags=["fr"]
        ),
    }


@pytest.fixture
def post(owner_client, django_capture_on_commit_callbacks):
    """POST to the broadcasts API, running what happens after commit (the worker)."""

    def send(path, body=None, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return owner_client.post(path, body or {}, format="json", **headers)

    return send


def test_a_broadcast_renders_per_contact_and_skips_opted_out_and_unrenderable_ones(
    post, owner_client, workspace, our_number, people
):
    OptOut.objects.create(workspace=workspace, phone_number=NY, keyword="STOP")
    template = MessageTemplate.objects.create(
        workspace=workspace, name="Hi", body="Hi {{name}}, see you in {{city}}!"
    )
    response = post(
        url(workspace),
        {
            "name": "Launch",
            "template_id": template.id,
            "audience": {"contact_ids": [people["ana"].id, people["ben"].id, people["ana"].id]},
        },
    )
    assert response.status_code == 201, response.content
    broadcast = response.json()
    assert broadcast["id"].startswith("bc_")
    assert broadcast["status"] in ("sending", "completed")
    messages = list(Message.objects.filter(broadcast_id=broadcast["id"]))
    assert [(m.to_number, m.body) for m in messages] == [(LA, "Hi Ana, see you in San Francisco!")]
    counts = owner_client.get(url(workspace, f"/{broadcast['id']}")).json()["counts"]
    assert counts["total"] == 2 and counts["skipped_opted_out"] == 1
    assert sum(counts[k] for k in ("queued", "sent", "delivered", "failed", "undelivered")) == 1
    # Chloé has a city, Ben has none and no default: a tag audience skips him as invalid.
    OptOut.objects.all().delete()
    tagged = post(
        url(workspace),
        {"name": "All", "body": "Hi {{name}} in {{city}}", "audience": {"tags": ["vip", "fr"]}},
    ).json()
    tagged = owner_client.get(url(workspace, f"/{tagged['id']}")).json()
    assert tagged["counts"]["total"] == 3
    assert tagged["counts"]["skipped_invalid"] == 1
    assert tagged["skipped"] == [
        {"contact_id": people["ben"].id, "reason": "The variable {{city}} has no value and no default."}
    ]
    assert Message.objects.get(broadcast_id=tagged["id"], to_number=PARIS).body == "Hi Chloé in Paris"
    message = owner_client.get(f"/api/ui/workspaces/{workspace.id}/messages", {"to": PARIS}).json()["data"][0]
    assert message["broadcast_id"] == tagged["id"]


def test_a_broadcast_is_checked_whole_before_anything_is_made(
    post, workspace, our_number, people, other_workspace
):
    stranger = Contact.objects.create(workspace=other_workspace, phone_number=LA)
    bad = [
        {"name": "x", "body": "hi", "audience": {"contact_ids": [stranger.id]}},
        {"name": "x", "body": "hi", "audience": {"tags": []}},
        {"name": "x", "body": "hi", "audience": {"everyone": True}},
        {"name": "x", "body": "hi {{name.x}}", "audience": {"all": True}},
        {"name": "x", "audience": {"all": True}},
        {
            "name": "x",
            "body": "hi",
            "audience": {"all": True},
            "quiet_hours": {"start": "25:00", "end": "08:00"},
        },
        {"name": "x", "body": "hi", "audience": {"all": True}, "validity_period": "soon"},
        {"name": "x", "body": "hi", "audience": {"all": True}, "scheduled_at": "2020-01-01T00:00:00Z"},
        {"name": "", "body": "hi", "audience": {"all": True}},
    ]
    for body in bad:
        assert_error(post(url(workspace), body), 400, "invalid_params")
    assert_error(
        post(url(workspace), {"name": "x", "body": "hi", "audience": {"all": True}, "from": "+15005550001"}),
        400,
        "from_number_not_allowed",
    )
    assert not Broadcast.objects.exists()


def test_another_workspace_sees_none_of_the_broadcasts(
    post, outsider_client, workspace, other_workspace, our_number, people
):
    broadcast = post(
        url(workspace), {"name": "x", "body": "hi", "audience": {"all": True}, "draft": True}
    ).json()
    assert outsider_client.get(url(other_workspace)).json()["data"] == []
    for rest in ("", "/preview", "/send", "/cancel"):
        call = outsider_client.get if rest == "" else outsider_client.post
        assert_error(call(url(other_workspace, f"/{broadcast['id']}" + rest)), 404, "not_found")
    assert Broadcast.objects.get().status == "draft"


def test_a_draft_is_previewed_then_sent(post, owner_client, workspace, our_number, people):
    OptOut.objects.create(workspace=workspace, phone_number=PARIS)
    draft = post(
        url(workspace),
        {"name": "x", "body": "Hi {{name|friend}} \u2014 news", "audience": {"all": True}, "draft": True},
    ).json()
    assert draft["status"] == "draft"
    assert not Message.objects.exists()
    preview = post(url(workspace, f"/{draft['id']}/preview")).json()
    assert preview["samples"][0]["text"].startswith("Hi ")
    assert (preview["messages"], preview["segments"], preview["skipped_opted_out"]) == (2, 2, 1)
    assert preview["samples"][0]["encoding"] == "UCS-2"
    assert preview["samples"][0]["smart_encoded"].endswith("- news")
    assert preview["skipped"][0]["phone_number"] == PARIS
    sent = post(url(workspace, f"/{draft['id']}/send")).json()
    assert sent["status"] in ("sending", "completed")
    assert Message.objects.filter(broadcast_id=draft["id"]).count() == 2
    assert_error(post(url(workspace, f"/{draft['id']}/send")), 409, "not_startable")


def test_creating_a_broadcast_is_idempotent(post, workspace, our_number, people):
    body = {"name": "x", "body": "hi", "audience": {"all": True}}
    first = post(url(workspace), body, HTTP_IDEMPOTENCY_KEY="launch-1")
    again = post(url(workspace), body, HTTP_IDEMPOTENCY_KEY="launch-1")
    assert first.json()["id"] == again.json()["id"]
    assert Broadcast.objects.count() == 1 and Message.objects.count() == 3
    assert_error(
        post(url(workspace), {**body, "name": "y"}, HTTP_IDEMPOTENCY_KEY="launch-1"),
        409,
        "idempotency_conflict",
    )


@pytest.mark.parametrize(
    ("number", "at", "expected"),
    [
        # 23:00 in San Francisco (06:00 UTC): held until 08:00 there (15:00 UTC).
        (LA, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), datetime(2026, 3, 10, 15, 0, tzinfo=UTC)),
        # The same moment is 02:00 in New York: held until 08:00 there.
        (NY, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),
        # 07:00 in Paris: quiet until 08:00.
        (PARIS, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), datetime(2026, 3, 10, 7, 0, tzinfo=UTC)),
        # 13:00 in Paris: not quiet.
        (PARIS, datetime(2026, 3, 10, 12, 0, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_hold_until_the_recipients_local_morning(number, at, expected):
    assert broadcasts.release_time(number, at, {"start": "21:00", "end": "08:00"}, "UTC") == expected


def test_a_number_that_spans_zones_uses_the_workspaces_zone():
    # +1 800 numbers have no zone: the workspace's (Tokyo) decides.
    assert broadcasts.recipient_zone("+18005550199", "Asia/Tokyo").key == "Asia/Tokyo"
    assert broadcasts.recipient_zone(LA, "Asia/Tokyo").key == "America/Los_Angeles"


def test_quiet_hours_schedule_each_message_with_a_frozen_clock(
    post, owner_client, workspace, our_number, people, monkeypatch
):
    frozen = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 23:00 in SF, 02:00 in NY, 07:00 in Paris
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    made = post(
        url(workspace),
        {
            "name": "x",
            "body": "Hi {{name}}",
            "audience": {"all": True},
            "quiet_hours": {"start": "21:00", "end": "08:00"},
        },
    ).json()
    held = dict(Message.objects.filter(broadcast_id=made["id"]).values_list("to_number", "scheduled_at"))
    assert held == {
        LA: datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
        NY: datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
        PARIS: datetime(2026, 3, 10, 7, 0, tzinfo=UTC),
    }
    assert set(Message.objects.values_list("status", flat=True)) == {"scheduled"}
    # Canceled mid-way: every unsent message ends canceled.
    canceled = post(url(workspace, f"/{made['id']}/cancel")).json()
    assert canceled["status"] == "canceled"
    assert canceled["counts"]["canceled"] == 3 and canceled["counts"]["queued"] == 0
    assert_error(post(url(workspace, f"/{made['id']}/cancel")), 409, "not_cancelable")


def test_messages_past_their_validity_end_failed_expired(post, workspace, our_number, people, monkeypatch):
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
    made = post(
        url(workspace),
        {
            "name": "x",
            "body": "hi",
            "audience": {"all": True},
            "quiet_hours": {"start": "21:00", "end": "08:00"},
            "validity_period": 3600,
        },
    ).json()
    monkeypatch.setattr(timezone, "now", lambda: start)
    assert validity.expire_unsent_messages() == 3
    expired = Message.objects.filter(broadcast_id=made["id"])
    assert {(m.status, m.error_code) for m in expired} == {("failed", "expired")}
    assert broadcasts.broadcasts_sweep()["completed"] == 1
    assert Broadcast.objects.get().status == "completed"


def test_a_worker_killed_mid_broadcast_resumes_and_sends_each_contact_once(
    post, workspace, our_number, monkeypatch, settings
):
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number=f"+1415555{n:04d}") for n in range(3000, 3045)]
    )
    settings.BROADCAST_BATCH_CONTACTS = 10
    calls = {"n": 0}
    store = generation._store

    def dies_on_the_third_batch(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return store(*args)

    monkeypatch.setattr(generation, "_store", dies_on_the_third_batch)
    with pytest.raises(SystemExit):
        post(url(workspace), {"name": "x", "body": "hi", "audience": {"all": True}})
    broadcast = Broadcast.objects.get()
    assert Message.objects.count() == 20
    broadcasts.broadcast_generate(broadcast_id=broadcast.id)
    numbers = list(Message.objects.values_list("to_number", flat=True))
    assert len(numbers) == len(set(numbers)) == 45
    broadcast.refresh_from_db()
    assert broadcast.generated and broadcast.total == 45


def test_a_scheduled_broadcast_starts_when_due(post, workspace, our_number, people, monkeypatch):
    later = timezone.now() + timedelta(hours=1)
    made = post(
        url(workspace),
        {"name": "x", "body": "hi", "audience": {"all": True}, "scheduled_at": later.isoformat()},
    ).json()
    assert made["status"] == "scheduled"
    assert broadcasts.broadcasts_sweep()["started"] == 0
    monkeypatch.setattr(timezone, "now", lambda: later + timedelta(seconds=1))
    assert broadcasts.broadcasts_sweep()["started"] == 1
    broadcasts.broadcast_generate(broadcast_id=made["id"])
    assert Message.objects.filter(broadcast_id=made["id"]).count() == 3


def test_a_single_send_takes_a_validity_period(send):
    response = send(validity_period=600)
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert 590 <= (message.expires_at - message.created_at).total_seconds() <= 610
    for bad in ("600", 0, 1.5, True, 15 * 24 * 3600):
        assert_error(send(validity_period=bad), 400, "invalid_params")


def test_workers_share_a_broadcast_by_slices_and_each_contact_gets_one_message(
    post, owner_client, workspace, our_number, settings
):
    if not uses_postgres():
        pytest.skip("slices are cut on PostgreSQL, where several workers share a broadcast")
    Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, phone_number=f"+1415555{n:04d}", name=f"P{n}", fields={"n": str(n)})
            for n in range(5000, 5045)
        ]
    )
    settings.BROADCAST_SLICE_CONTACTS = 10
    settings.BROADCAST_BATCH_CONTACTS = 4
    made = post(url(workspace), {"name": "x", "body": "Hi {{name}} #{{n}}", "audience": {"all": True}})
    assert made.status_code == 201, made.content
    broadcast = Broadcast.objects.get(pk=made.json()["id"])
    # 45 contacts in slices of 10: five slices, the last one open-ended.
    assert [(s.after == "", s.last == "") for s in broadcast.slices.order_by("seq")] == [
        (True, False),
        (False, False),
        (False, False),
        (False, False),
        (False, True),
    ]
    assert all(s.done for s in broadcast.slices.all())
    messages = Message.objects.filter(broadcast=broadcast)
    assert sorted(m.body for m in messages) == sorted(f"Hi P{n} #{n}" for n in range(5000, 5045))
    assert messages.values("to_number").distinct().count() == 45
    assert all(m.conversation_id and m.from_number == our_number.phone_number for m in messages)
    counts = owner_client.get(url(workspace, f"/{broadcast.id}")).json()["counts"]
    assert counts["total"] == 45
    assert sum(counts[k] for k in ("queued", "sent", "delivered", "failed", "undelivered")) == 45


def test_a_worker_killed_in_one_slice_leaves_the_others_to_go_on(
    post, workspace, our_number, monkeypatch, settings
):
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number=f"+1415555{n:04d}") for n in range(6000, 6030)]
    )
    settings.BROADCAST_SLICE_CONTACTS = 10
    settings.BROADCAST_BATCH_CONTACTS = 10
    store = generation._store
    calls = {"n": 0}

    def dies_in_the_second_slice(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return store(*args)

    monkeypatch.setattr(generation, "_store", dies_in_the_second_slice)
    with pytest.raises(SystemExit):
        post(url(workspace), {"name": "x", "body": "hi", "audience": {"all": True}})
    broadcast = Broadcast.objects.get()
    assert Message.objects.count() == 10 and not broadcast.generated
    broadcasts.broadcast_generate(broadcast_id=broadcast.id)
    numbers = list(Message.objects.values_list("to_number", flat=True))
    assert len(numbers) == len(set(numbers)) == 30
    broadcast.refresh_from_db()
    assert broadcast.generated


def test_an_opt_out_that_arrives_while_the_batch_is_made_is_skipped_and_counted(
    post, owner_client, workspace, our_number, people, monkeypatch
):
    if not uses_postgres():
        pytest.skip("the PostgreSQL store statement checks opt-outs; SQLite stores through the send service")
    store = generation.broadcast_messages_store

    def stop_arrives_first(**kwargs):
        OptOut.objects.create(workspace=workspace, phone_number=NY, keyword="STOP")
        return store(**kwargs)

    monkeypatch.setattr(generation, "broadcast_messages_store", stop_arrives_first)
    made = post(url(workspace), {"name": "x", "body": "Hi {{name}}", "audience": {"all": True}}).json()
    assert sorted(
        Message.objects.filter(broadcast_id=made["id"]).values_list("to_number", flat=True)
    ) == sorted([LA, PARIS])
    counts = owner_client.get(url(workspace, f"/{made['id']}")).json()["counts"]
    assert counts["skipped_opted_out"] == 1


def test_a_text_that_renders_too_long_is_skipped_as_invalid(
    post, owner_client, workspace, our_number, people
):
    people["ana"].fields = {"city": "x" * 1000}
    people["ana"].save()
    made = post(
        url(workspace), {"name": "x", "body": "{{city|Paris}} " * 2, "audience": {"all": True}}
    ).json()
    made = owner_client.get(url(workspace, f"/{made['id']}")).json()
    assert made["counts"]["skipped_invalid"] == 1
    assert made["skipped"] == [
        {"contact_id": people["ana"].id, "reason": "The message renders longer than 1,600 characters."}
    ]
    assert Message.objects.filter(broadcast_id=made["id"]).count() == 2


def test_every_broadcast_message_is_published_as_created(post, workspace, our_number, people, monkeypatch):
    from messaging import events

    published = []
    monkeypatch.setattr(events, "publish_events", lambda ws, evs: published.extend(evs))
    made = post(url(workspace), {"name": "x", "body": "Hi {{name}}", "audience": {"all": True}}).json()
    created = [e["data"] for e in published if e["type"] == events.MESSAGE_CREATED]
    stored = Message.objects.filter(broadcast_id=made["id"])
    assert sorted(d["id"] for d in created) == sorted(m.id for m in stored)
    # As stored, before delivery moved it on (the simulator delivers at once here).
    now = events.message_payload(stored.get(pk=created[0]["id"]))
    assert set(created[0]) == set(now)
    unchanged = (
        "id",
        "direction",
        "to",
        "from",
        "body",
        "created_at",
        "media_urls",
        "num_segments",
        "encoding",
        "scheduled_at",
        "conversation_id",
        "broadcast_id",
    )
    assert {k: created[0][k] for k in unchanged} == {k: now[k] for k in unchanged}
    assert created[0]["status"] == "queued" and created[0]["sent_at"] is None


def test_broadcast_messages_follow_each_destinations_route(post, workspace, our_number, people):
    from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount

    primary = ProviderAccount.objects.get(workspace=workspace, is_primary=True)
    france = ProviderAccount.objects.create(
        workspace=workspace, provider="simulator", name="FR", is_primary=False
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number="+33612345000", account=france)
    CarrierRoute.objects.create(workspace=workspace, prefix="+33", account=france, fallback_account=primary)
    response = post(
        url(workspace),
        {
            "name": "Routed",
            "body": "Hello",
            "audience": {"contact_ids": [people["ana"].id, people["chloe"].id]},
        },
    )
    assert response.status_code == 201, response.content
    sent = {
        m.to_number: (m.from_number, m.carrier_account_id, m.fallback_account_id)
        for m in Message.objects.filter(broadcast_id=response.json()["id"])
    }
    assert sent == {
        LA: (our_number.phone_number, primary.pk, None),
        PARIS: ("+33612345000", france.pk, primary.pk),
    }


def test_a_batch_makes_as_many_queries_for_ten_contacts_as_for_a_hundred(
    post, workspace, our_number, settings, monkeypatch
):
    if not uses_postgres():
        pytest.skip("SQLite stores through the send service, a message at a time")
    """Nothing is asked per recipient (the sender, its credentials token, a contact's fields):
    a batch's round trips do not grow with its contacts."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.BROADCAST_SLICE_CONTACTS = settings.BROADCAST_BATCH_CONTACTS = 1000
    monkeypatch.setattr(generation, "enqueue_many", lambda ids: None)  # making them, not delivery
    queries = []
    for first, count in ((6900, 5), (7000, 10), (7100, 100)):  # the first fills the caches
        Contact.objects.bulk_create(
            [
                Contact(
                    workspace=workspace,
                    phone_number=f"+1415555{n:04d}",
                    name=f"P{n}",
                    fields={"city": "Lyon"},
                    tags=[f"t{first}"],
                )
                for n in range(first, first + count)
            ]
        )
        with CaptureQueriesContext(connection) as captured:
            made = post(
                url(workspace),
                {"name": "x", "body": "Hi {{name}} in {{city}}", "audience": {"tags": [f"t{first}"]}},
            )
        assert made.status_code == 201, made.content
        assert Message.objects.filter(broadcast_id=made.json()["id"]).count() == count
        queries.append(len(captured))
    assert queries[1] == queries[2], queries


def test_quiet_hours_messages_are_published_with_their_release_times(
    post, workspace, our_number, people, monkeypatch
):
    from messaging import events

    frozen = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 23:00 in SF, 02:00 in NY, 07:00 in Paris
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    published = []
    monkeypatch.setattr(events, "publish_events", lambda ws, evs: published.extend(evs))
    made = post(
        url(workspace),
        {
            "name": "x",
            "body": "Hi {{name}}",
            "audience": {"all": True},
            "quiet_hours": {"start": "21:00", "end": "08:00"},
        },
    ).json()
    created = {e["data"]["id"]: e["data"] for e in published if e["type"] == events.MESSAGE_CREATED}
    stored = Message.objects.filter(broadcast_id=made["id"])
    assert len(created) == stored.count() == 3
    for message in stored:
        now = events.message_payload(message)
        assert {k: created[message.id][k] for k in ("created_at", "updated_at", "scheduled_at")} == {
            k: now[k] for k in ("created_at", "updated_at", "scheduled_at")
        }
    assert created[stored.get(to_number=LA).id]["scheduled_at"] == "2026-03-10T15:00:00Z"


def test_batches_renew_the_heartbeat_only_when_it_is_old_or_counts_change(
    post, workspace, our_number, settings, monkeypatch
):
    """A batch with nothing skipped leaves the broadcast's row alone while its heartbeat
    (updated_at) is fresh, renews it once it is a quarter of the stall time old, and a batch that
    skips someone always counts it."""
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number=f"+1415555{n:04d}") for n in range(3100, 3130)]
    )
    settings.BROADCAST_BATCH_CONTACTS = 10
    settings.BROADCAST_STALL_SECONDS = 60
    from messaging.broadcasts import making
    from messaging.models import BroadcastSlice

    monkeypatch.setattr(making, "enqueue_broadcast", lambda broadcast_id: None)  # batch by batch here
    made = post(url(workspace), {"name": "x", "body": "hi", "audience": {"all": True}}).json()
    broadcast = Broadcast.objects.get(pk=made["id"])
    before = broadcast.updated_at
    assert generation._generate_batch(broadcast.id) == generation._MORE
    broadcast.refresh_from_db()
    assert broadcast.updated_at == before  # fresh: untouched
    Broadcast.objects.filter(pk=broadcast.pk).update(updated_at=timezone.now() - timedelta(seconds=16))
    assert generation._generate_batch(broadcast.id) == generation._MORE
    broadcast.refresh_from_db()
    assert timezone.now() - broadcast.updated_at < timedelta(seconds=5)  # renewed
    cursor = BroadcastSlice.objects.get(broadcast=broadcast).cursor
    next_one = Contact.objects.filter(workspace=workspace, pk__gt=cursor).order_by("pk").first()
    OptOut.objects.create(workspace=workspace, phone_number=next_one.phone_number)
    assert generation._generate_batch(broadcast.id) == generation._MORE
    broadcast.refresh_from_db()
    assert broadcast.skipped_opted_out == 1
    while generation._generate_batch(broadcast.id) == generation._MORE:
        pass
    generation._finish_generating(broadcast.id)
    broadcast.refresh_from_db()
    assert broadcast.generated and Message.objects.filter(broadcast=broadcast).count() == 29
