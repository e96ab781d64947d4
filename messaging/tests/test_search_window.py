"""A list counted by its own matches (a messages `search`, a contacts `search`) finds them once: one
statement counts them and names the page's rows (messaging.list_counts.CountedQuerySet), and
every page is the page an offset reads, with the same total, for every page size."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import list_counts
from messaging.models import Contact, Message, Status
from messaging.tests.conftest import CONTACT, OUR_NUMBER

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunds(workspace, other_workspace):
    """23 messages, 15 of them saying "refund", some at the same moment, and some in another
    workspace."""
    now = timezone.now()
    rows = [
        Message(
            workspace=ws,
            direction="outbound",
            status=Status.DELIVERED,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Your Refund {i} is on its way" if i % 3 else f"Order {i} shipped",
            created_at=now - timedelta(minutes=i // 2),  # two at each moment
        )
        for ws, n in ((workspace, 23), (other_workspace, 6))
        for i in range(n)
    ]
    Message.objects.bulk_create(rows)


@pytest.fixture
def named(workspace, other_workspace):
    """17 contacts of the workspace named Contact 0 … 16, some created at the same moment."""
    now = timezone.now()
    Contact.objects.bulk_create(
        Contact(
            workspace=ws,
            phone_number=f"+1415555{i:04d}",
            name=f"Contact {i}",
            created_at=now - timedelta(minutes=i // 3),
        )
        for ws, n in ((workspace, 17), (other_workspace, 4))
        for i in range(n)
    )


def expected(queryset: QuerySet, start: int, stop: int) -> list[str]:
    return list(QuerySet.values_list(queryset, "pk", flat=True)[start:stop])


def pages(client, path: str, search: str, limit: int):
    page = 1
    while True:
        body = client.get(path, {"search": search, "limit": limit, "page": page}).json()
        yield page, body["pagination"], [row["id"] for row in body["data"]]
        if not body["pagination"]["hasNext"]:
            return
        page += 1


@pytest.mark.parametrize("ahead", [3, 1000])
@pytest.mark.parametrize("limit", [1, 2, 5, 7, 100])
def test_every_search_page_is_the_offsets_page_with_the_same_total(
    refunds, owner_client, workspace, monkeypatch, ahead, limit
):
    monkeypatch.setattr(list_counts, "COUNT_AHEAD", ahead)
    matching = Message.objects.filter(workspace=workspace, body__icontains="REFUND").order_by(
        "-created_at", "-id"
    )
    total = matching.count()
    seen = []
    for page, pagination, ids in pages(
        owner_client, f"/api/ui/workspaces/{workspace.id}/messages", "refund", limit
    ):
        end = page * limit
        assert pagination["totalItems"] == min(total, end + ahead)
        assert ids == expected(matching, end - limit, end)
        seen += ids
    assert seen == expected(matching, 0, total)


@pytest.mark.parametrize("limit", [1, 4, 6, 100])
def test_every_contact_search_page_is_the_offsets_page_with_the_exact_total(
    named, owner_client, workspace, limit
):
    matching = Contact.objects.filter(workspace=workspace, name__icontains="contact 1").order_by(
        "-created_at", "-id"
    )
    total = matching.count()
    assert total == 8  # Contact 1, 10 … 16
    seen = []
    path = f"/api/ui/workspaces/{workspace.id}/contacts"
    for page, pagination, ids in pages(owner_client, path, "Contact 1", limit):
        assert pagination["totalItems"] == total
        assert ids == expected(matching, (page - 1) * limit, page * limit)
        seen += ids
    assert seen == expected(matching, 0, total)


def test_a_page_past_the_end_is_empty_and_counted(refunds, named, owner_client, workspace):
    body = owner_client.get(
        f"/api/ui/workspaces/{workspace.id}/messages", {"search": "refund", "page": 9, "limit": 5}
    ).json()
    assert body["data"] == [] and body["pagination"]["totalItems"] == 15
    body = owner_client.get(
        f"/api/ui/workspaces/{workspace.id}/contacts", {"search": "nobody", "page": 1}
    ).json()
    assert body["data"] == [] and body["pagination"]["totalItems"] == 0


def test_the_matches_are_looked_for_once_for_the_count_and_the_page(refunds, named, owner_client, workspace):
    if connection.vendor != "postgresql":
        pytest.skip("Elsewhere the count and the page are two statements.")
    for path, search in (("messages", "refund"), ("contacts", "Contact 1")):
        with CaptureQueriesContext(connection) as queries:
            body = owner_client.get(
                f"/api/ui/workspaces/{workspace.id}/{path}", {"search": search, "limit": 2, "page": 2}
            ).json()
        assert len(body["data"]) == 2
        # The page's rows are then read by their keys alone.
        searched = [q["sql"] for q in queries.captured_queries if "LIKE" in q["sql"].upper()]
        assert len(searched) == 1, searched
        assert any('."id" IN (' in q["sql"] for q in queries.captured_queries)


def test_a_search_finds_messages_in_every_status(owner_client, workspace):
    """The body's trigram index holds only the messages that have settled (migrations
    messaging.0019, 0024): the ones in flight are found all the same."""
    now = timezone.now()
    Message.objects.bulk_create(
        Message(
            workspace=workspace,
            direction="inbound" if status == Status.RECEIVED else "outbound",
            status=status,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Parcel 7Q{status}X is ready",
            created_at=now - timedelta(minutes=i),
        )
        for i, status in enumerate(Status.values)
    )
    body = owner_client.get(f"/api/ui/workspaces/{workspace.id}/messages", {"search": "parcel 7q"}).json()
    assert sorted(m["status"] for m in body["data"]) == sorted(Status.values)
    assert body["pagination"]["totalItems"] == len(Status.values)


def test_claiming_writes_nothing_into_the_bodys_trigram_index(workspace):
    if connection.vendor != "postgresql":
        pytest.skip("The trigram index is PostgreSQL's.")
    from messaging import lifecycle

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'msg_search_text_settled'")
        if cursor.fetchone() is None:
            pytest.skip("pg_trgm is not installed here.")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    Message.objects.bulk_create(
        Message(
            workspace=workspace,
            direction="outbound",
            status=Status.QUEUED,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Your code is {i:06d}, valid for ten minutes",
        )
        for i in range(20)
    )

    def pending() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pending_tuples FROM pgstatginindex('msg_search_text_settled')")
            return cursor.fetchone()[0]

    before = pending()
    assert len(lifecycle.messages_claim_due(limit=20, announce=False)) == 20
    assert pending() == before
    found = Message.objects.filter(workspace=workspace, status=Status.SENDING)
    lifecycle.messages_mark_sent([lifecycle.Sent(m.id, f"SM{m.id}") for m in found])
    assert pending() > before  # settled: searched through the index


def test_the_body_index_migration_analyzes_only_a_table_that_holds_messages(workspace):
    """ANALYZE of an empty messages table (a new database) would leave "no rows" in the planner's
    statistics, and the store statements prepared before autovacuum's next look would keep plans
    for an empty table (a batch of 1,000 took seconds)."""
    if connection.vendor != "postgresql":
        pytest.skip("The statistics are PostgreSQL's.")
    import importlib

    migration = importlib.import_module("messaging.migrations.0019_message_body_trigram_settled")

    def analyzed() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'messaging_message'"
            )
            return cursor.fetchone()[0]

    Message.objects.all().delete()
    before = analyzed()
    with connection.schema_editor(atomic=False) as editor:
        migration.analyze_if_filled(None, editor)
    assert analyzed() == before
    Message.objects.create(
        workspace=workspace, direction="outbound", to_number=CONTACT, from_number=OUR_NUMBER, body="hi"
    )
    with connection.schema_editor(atomic=False) as editor:
        migration.analyze_if_filled(None, editor)
    assert analyzed() == before + 1


def search_texts(workspace) -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT body, search_text FROM messaging_message WHERE workspace_id = %s", [workspace.pk]
        )
        return dict(cursor.fetchall())


def test_the_database_keeps_every_messages_search_text(workspace, owner_client):
    """search_text (messaging.0024, 0025) is UPPER(body) from a message's insert, in flight or
    settled, and follows its body; searches see each state."""
    if connection.vendor != "postgresql":
        pytest.skip("The column and its triggers are PostgreSQL's.")
    from messaging import lifecycle

    def make(body, status):
        return Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=body,
        )

    queued = make("Straße número 1 queued", Status.QUEUED)
    received = make("Straße número 2 received", Status.RECEIVED)
    scheduled = make("Straße número 3 scheduled", Status.SCHEDULED)
    upper = queued.body.upper().replace("SS", "ß")  # PostgreSQL's UPPER keeps ß
    assert search_texts(workspace) == {
        queued.body: upper,
        received.body: received.body.upper().replace("SS", "ß"),
        scheduled.body: scheduled.body.upper().replace("SS", "ß"),
    }

    def found(text):
        path = f"/api/ui/workspaces/{workspace.id}/messages"
        return sorted(m["id"] for m in owner_client.get(path, {"search": text}).json()["data"])

    assert found("straße NÚMERO") == sorted([queued.id, received.id, scheduled.id])
    assert found("número 1 queued") == [queued.id]

    [claimed] = lifecycle.messages_claim_due(limit=10, announce=False)
    assert search_texts(workspace)[queued.body] == upper
    assert found("número 1 queued") == [queued.id]
    lifecycle.messages_mark_sent([lifecycle.Sent(claimed.id, "SM1")])
    assert search_texts(workspace)[queued.body] == upper
    assert found("número 1 queued") == [queued.id]
    # Sent back to the queue: the text stays, and matches.
    Message.objects.filter(pk=queued.pk).update(status=Status.QUEUED)
    assert found("número 1") == [queued.id]
    # A body changed (redacted) in flight or settled leaves no trace of the old words.
    Message.objects.filter(pk=queued.pk).update(body="[redacted]")
    assert search_texts(workspace)["[redacted]"] == "[REDACTED]"
    assert found("número 1") == []
    assert found("redacted") == [queued.id]
    Message.objects.filter(pk=received.pk).update(body="Nothing to see")
    assert search_texts(workspace)["Nothing to see"] == "NOTHING TO SEE"
    assert found("número 2") == []


def test_a_search_for_like_wildcards_matches_them_literally(workspace, owner_client):
    for body in ("50% off today", "500 off today", "a_b", "axb", "back\\slash"):
        for status in (Status.QUEUED, Status.DELIVERED):
            Message.objects.create(
                workspace=workspace,
                direction="outbound",
                status=status,
                to_number=CONTACT,
                from_number=OUR_NUMBER,
                body=body,
            )
    path = f"/api/ui/workspaces/{workspace.id}/messages"
    for text, body in (("50%", "50% off today"), ("a_b", "a_b"), ("k\\s", "back\\slash")):
        data = owner_client.get(path, {"search": text}).json()["data"]
        assert sorted(m["status"] for m in data) == ["delivered", "queued"], text
        assert {m["body"] for m in data} == {body}, text


def test_a_search_cut_into_tiles_still_finds_only_the_text_itself(workspace, owner_client):
    """The index is asked for the text's three-character tiles in order (a code "afc712-16c1e0"
    as "%AFC%712%16C%1E0%"); a body holding the tiles apart is not a match."""
    from messaging.selectors import tiles_pattern

    assert tiles_pattern("afc712-16c1e0") == "%afc%712%16c%1e0%"
    assert tiles_pattern("Straße número 12345") == "%Str%mer%123%"  # ASCII letters and digits
    assert tiles_pattern("refund") == "%ref%und%"
    assert tiles_pattern("hi there") is None  # one tile: the plain search
    bodies = ("Code AFC712-16C1E0 is yours", "afc then 712 16c and 1e0", "Code afc712-16c1e")
    for body in bodies:
        for status in (Status.QUEUED, Status.DELIVERED):
            Message.objects.create(
                workspace=workspace,
                direction="outbound",
                status=status,
                to_number=CONTACT,
                from_number=OUR_NUMBER,
                body=body,
            )
    path = f"/api/ui/workspaces/{workspace.id}/messages"
    data = owner_client.get(path, {"search": "afc712-16C1E0"}).json()["data"]
    assert sorted((m["body"], m["status"]) for m in data) == [
        (bodies[0], "delivered"),
        (bodies[0], "queued"),
    ]


def test_the_search_text_migration_fills_settled_messages_only(workspace, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("The column is PostgreSQL's.")
    import importlib

    migration = importlib.import_module("messaging.migrations.0024_message_search_text")
    for i, status in enumerate([Status.QUEUED, Status.DELIVERED, Status.FAILED, Status.SENDING] * 3):
        Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Body {i} {status}",
        )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_message SET search_text = NULL")  # as before the migration
    monkeypatch.setattr(migration, "BATCH", 5)  # several batches
    with connection.schema_editor(atomic=False) as editor:
        migration.fill(None, editor)
    for body, text in search_texts(workspace).items():
        in_flight = body.endswith(("queued", "sending"))
        assert text == (None if in_flight else body.upper()), body


def test_the_in_flight_search_text_migration_fills_every_message(workspace, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("The column is PostgreSQL's.")
    import importlib

    migration = importlib.import_module("messaging.migrations.0025_search_text_in_flight")
    for i, status in enumerate([Status.QUEUED, Status.DELIVERED, Status.FAILED, Status.SENDING] * 3):
        Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Body {i} {status}",
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET search_text = NULL WHERE status IN ('queued', 'sending')"
        )
    monkeypatch.setattr(migration, "BATCH", 5)  # several batches
    with connection.schema_editor(atomic=False) as editor:
        migration.fill(None, editor)
    assert search_texts(workspace) == {body: body.upper() for body in search_texts(workspace)}
