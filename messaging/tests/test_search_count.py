"""A body `search` is counted only so far past the page asked for (messaging.list_counts.bounded):
exact while the matches are fewer than the end of the page plus COUNT_AHEAD, that bound beyond it,
with `hasNext` right either way and every page reachable."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import list_counts, views
from messaging.models import Message, Status
from messaging.tests.conftest import CONTACT, OUR_NUMBER

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunds(workspace, other_workspace):
    """12 messages saying "refund" among 20 in the workspace, and 5 in another workspace."""
    now = timezone.now()
    rows = [
        Message(
            workspace=ws,
            direction="outbound",
            status=Status.DELIVERED,
            to_number=CONTACT,
            from_number=OUR_NUMBER,
            body=f"Your REFUND {i} is on its way" if refund else f"Order {i} shipped",
            created_at=now - timedelta(minutes=i),
        )
        for ws, n, matching in ((workspace, 20, 12), (other_workspace, 5, 5))
        for i in range(n)
        for refund in [i < matching]
    ]
    Message.objects.bulk_create(rows)


@pytest.fixture
def ahead(monkeypatch):
    monkeypatch.setattr(list_counts, "COUNT_AHEAD", 3)
    return 3


def page(client, workspace, **params):
    body = client.get(f"/api/ui/workspaces/{workspace.id}/messages", {"search": "refund", **params}).json()
    return body["pagination"], [m["body"] for m in body["data"]]


def test_a_search_is_exact_while_its_matches_end_before_the_bound(refunds, owner_client, workspace):
    pagination, bodies = page(owner_client, workspace, limit=5, page=3)
    assert pagination == {
        "currentPage": 3,
        "totalPages": 3,
        "totalItems": 12,
        "hasNext": False,
        "totalMessages": 12,
    }
    assert bodies == [f"Your REFUND {i} is on its way" for i in (10, 11)]


def test_a_search_past_the_bound_reports_the_bound_and_that_more_follow(
    refunds, ahead, owner_client, workspace
):
    pagination, bodies = page(owner_client, workspace, limit=2, page=1)
    # Counted through the page (2) and 3 more: at least 5 matches, so a next page.
    assert pagination == {
        "currentPage": 1,
        "totalPages": 3,
        "totalItems": 5,
        "hasNext": True,
        "totalMessages": 5,
    }
    assert bodies == ["Your REFUND 0 is on its way", "Your REFUND 1 is on its way"]
    # A deeper page counts further: every page is reachable and the last one is exact.
    pagination, bodies = page(owner_client, workspace, limit=2, page=4)
    assert pagination["totalItems"] == 11 and pagination["hasNext"] is True
    assert bodies == ["Your REFUND 6 is on its way", "Your REFUND 7 is on its way"]
    pagination, bodies = page(owner_client, workspace, limit=2, page=6)
    assert pagination == {
        "currentPage": 6,
        "totalPages": 6,
        "totalItems": 12,
        "hasNext": False,
        "totalMessages": 12,
    }
    assert bodies == ["Your REFUND 10 is on its way", "Your REFUND 11 is on its way"]


def test_the_count_reads_no_further_than_the_bound(refunds, ahead, api_client, workspace):
    with CaptureQueriesContext(connection) as queries:
        body = api_client.get("/api/messages", {"search": "refund", "limit": 2}).json()
    assert body["pagination"]["totalItems"] == 5 and len(body["data"]) == 2
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 5" in counts[0], counts


def test_the_messages_log_says_at_least_and_pages_on(refunds, ahead, monkeypatch, client, user, workspace):
    monkeypatch.setattr(views, "LOG_PAGE_SIZE", 5)
    client.force_login(user)
    url = reverse("log", kwargs={"ws": workspace.pk})
    first = client.get(url, {"search": "refund"}).content.decode()
    assert "8+ messages match" in first and first.count("Your REFUND") == 5  # a page of 5, and 3 more
    assert "Page 1 of 2+" in first
    last = client.get(url, {"search": "refund", "page": 3}).content.decode()
    assert "12 messages match" in last and "Page 3 of 3" in last
    assert last.count("Your REFUND") == 2
