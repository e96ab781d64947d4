"""GET /api/insights (API key) and GET /api/ui/workspaces/{id}/insights (members), and the
dashboard page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone

from conftest import assert_error, client_for
from messaging.insights.models import InsightCount

pytestmark = pytest.mark.django_db

# Yesterday and today (UTC): within the dashboard's periods whenever the tests run.
DAY = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=2)).isoformat()}


def count(workspace, hour: datetime, dimension: str = "", key: str = "", slot: int = 0, **columns) -> None:
    """Counter rows as counting writes them: the hour's, and but for the totals its day's too."""
    InsightCount.objects.create(
        workspace=workspace, bucket=hour, dimension=dimension, key=key, slot=slot, **columns
    )
    if dimension:
        day = hour.replace(hour=0)
        row, _ = InsightCount.objects.get_or_create(
            workspace=workspace, daily=True, bucket=day, dimension=dimension, key=key, slot=slot
        )
        InsightCount.objects.filter(pk=row.pk).update(**{c: F(c) + v for c, v in columns.items()})


@pytest.fixture
def figures(workspace):
    """Counts as the lifecycle leaves them: two hours of one sender, with an error code."""
    nine, ten = DAY + timedelta(hours=9), DAY + timedelta(hours=10)
    for dimension, key in (("", ""), ("sender", "+12015550123"), ("country", "US")):
        count(workspace, nine, dimension, key, sent=10, delivered=8, failed=1, undelivered=1, lat_03=8)
        count(workspace, ten, dimension, key, sent=5, delivered=5, received=3, opt_outs=1, lat_05=5)
        count(workspace, ten, dimension, key, slot=1, sent=5, delivered=2, lat_05=2)  # another worker
    count(workspace, nine, "error_code", "twilio:30003", undelivered=1)
    count(workspace, nine, "error_code", "twilio:21211", failed=1)


def test_an_integrator_reads_series_totals_breakdown_and_top_errors(api_client, figures):
    response = api_client.get("/api/insights", {**RANGE, "interval": "hour", "group_by": "sender"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["interval"] == "hour" and body["group_by"] == "sender" and len(body["series"]) == 48
    assert body["totals"] == {
        "sent": 20,
        "delivered": 15,
        "failed": 1,
        "undelivered": 1,
        "received": 3,
        "opt_outs": 1,
        "delivery_rate": round(15 / 17, 4),
        "median_seconds_to_delivered": 4.9,
        "p95_seconds_to_delivered": 9.7,
    }
    nine = next(p for p in body["series"] if p["start"] == f"{DAY:%Y-%m-%d}T09:00:00Z")
    ten = next(p for p in body["series"] if p["start"] == f"{DAY:%Y-%m-%d}T10:00:00Z")
    assert (nine["sent"], nine["delivery_rate"]) == (10, 0.8)
    assert (ten["sent"], ten["delivered"], ten["delivery_rate"]) == (10, 7, 1.0)  # both slots
    assert [(r["key"], r["sent"]) for r in body["breakdown"]] == [("+12015550123", 20)]
    assert [e["code"] for e in body["top_errors"]] == ["21211", "30003"]
    unreachable = body["top_errors"][1]
    assert unreachable["provider"] == "twilio" and unreachable["count"] == 1
    assert "could not be reached" in unreachable["meaning"] and unreachable["fix"]
    assert response["X-RateLimit-Limit"]


def test_a_member_reads_it_under_the_workspace_and_days_follow_its_zone(workspace, member):
    workspace.timezone = "America/New_York"
    workspace.save()
    count(workspace, datetime(2026, 11, 30, 9, tzinfo=UTC), sent=20)
    # 03:00 UTC on Dec 1 is still Nov 30 in New York.
    count(workspace, datetime(2026, 12, 1, 3, tzinfo=UTC), sent=4)
    count(workspace, datetime(2026, 12, 1, 3, tzinfo=UTC), "country", "US", sent=4)
    count(workspace, datetime(2026, 12, 1, 6, tzinfo=UTC), sent=7)
    response = client_for(member).get(
        f"/api/ui/workspaces/{workspace.pk}/insights",
        {"from": "2026-11-30", "to": "2026-12-02", "interval": "day", "group_by": "country"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "America/New_York"
    assert [(p["start"], p["sent"]) for p in body["series"]] == [
        ("2026-11-30T05:00:00Z", 24),
        ("2026-12-01T05:00:00Z", 7),
    ]
    assert body["breakdown"][0]["key"] == "US"


def test_another_workspaces_figures_never_show(
    workspace, other_workspace, api_client, other_api_client, outsider, figures
):
    count(other_workspace, DAY + timedelta(hours=9), sent=1000)
    count(other_workspace, DAY + timedelta(hours=9), "error_code", "twilio:30007", failed=9)
    ours = api_client.get("/api/insights", RANGE).json()
    assert ours["totals"]["sent"] == 20 and "30007" not in [e["code"] for e in ours["top_errors"]]
    theirs = other_api_client.get("/api/insights", RANGE).json()
    assert theirs["totals"]["sent"] == 1000 and [e["code"] for e in theirs["top_errors"]] == ["30007"]
    # A member of the other workspace asking for ours: the same 404 as a missing workspace.
    assert_error(
        client_for(outsider).get(f"/api/ui/workspaces/{workspace.pk}/insights", RANGE), 404, "not_found"
    )
    assert_error(client_for(outsider).get("/api/ui/workspaces/ws_missing/insights", RANGE), 404, "not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "week"}, "interval"),
        ({"group_by": "body"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-12-01", "interval": "hour"}, "from"),
        ({"from": "2020-01-01", "to": "2026-12-01"}, "from"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(api_client, params, field):
    body = assert_error(api_client.get("/api/insights", params), 400, "invalid_params")
    assert field in body["fields"]


def test_it_needs_credentials(anon_client, workspace, owner_client):
    assert_error(anon_client.get("/api/insights"), 401, "unauthorized")
    # A session token is not an API key, and the other way round.
    assert_error(owner_client.get("/api/insights"), 401, "unauthorized")


def test_the_defaults_are_the_last_seven_days_by_day_broken_down_by_sender(api_client):
    body = api_client.get("/api/insights").json()
    assert body["interval"] == "day" and body["group_by"] == "sender"
    assert 7 <= len(body["series"]) <= 8 and body["totals"]["delivery_rate"] is None


def test_the_schema_describes_both_routes(anon_client):
    schema = anon_client.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/insights", "/api/ui/workspaces/{workspace_id}/insights"):
        operation = schema["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "interval", "group_by"}
    answer = schema["components"]["schemas"]["Insights"]["properties"]
    assert {"from", "to", "series", "breakdown", "top_errors", "totals"} <= set(answer)


def test_the_dashboard_is_the_workspaces_home_and_shows_the_figures(user, workspace, figures):
    browser = Client()
    browser.force_login(user)
    home = browser.get(f"/w/{workspace.pk}/")
    assert home.status_code == 302 and home["Location"] == f"/w/{workspace.pk}/dashboard/"
    page = browser.get(f"/w/{workspace.pk}/dashboard/", {"period": "90d", "group_by": "error_code"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure="sent">20<' in html and "88.2%" in html
    assert "The handset could not be reached" in html and "insights-series" in html
    assert "vendor/chartjs/chart.umd.min.js" in html


def test_the_dashboard_is_for_members_only(outsider, workspace):
    browser = Client()
    browser.force_login(outsider)
    assert browser.get(f"/w/{workspace.pk}/dashboard/").status_code == 404
