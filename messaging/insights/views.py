"""The delivery dashboard, the workspace's home page."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from workspaces.pages import render_page, workspace_page

from .models import Dimension
from .selectors import GROUPS, insights_report

# The period filter: its span and the series' buckets.
PERIODS = {
    "24h": ("Last 24 hours", timedelta(hours=24), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "day"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
    "90d": ("Last 90 days", timedelta(days=90), "day"),
}
DEFAULT_PERIOD = "7d"


def duration(seconds: float | None) -> str:
    """4.2 s, 3.5 min, 2.1 h; an em dash for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _shown(figures: dict) -> dict:
    return {
        **figures,
        "rate_text": percent(figures["delivery_rate"]),
        "median_text": duration(figures["median_seconds_to_delivered"]),
        "p95_text": duration(figures["p95_seconds_to_delivered"]),
    }


@workspace_page
def dashboard(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period") if request.GET.get("period") in PERIODS else DEFAULT_PERIOD
    group_by = request.GET.get("group_by") if request.GET.get("group_by") in GROUPS else Dimension.SENDER
    _, span, interval = PERIODS[period]
    end = timezone.now()
    report = insights_report(
        workspace=request.workspace, start=end - span, end=end, interval=interval, group_by=group_by
    )
    api = reverse("ws-insights", kwargs={"workspace_id": request.workspace.pk})
    return render_page(
        request,
        "insights/dashboard.html",
        {
            "section": "dashboard",
            "report": report,
            "totals": _shown(report["totals"]),
            "breakdown": [_shown(row) for row in report["breakdown"]],
            "periods": [(key, label) for key, (label, _, _) in PERIODS.items()],
            "period": period,
            "groups": [(g.value, g.label) for g in GROUPS],
            "group_by": group_by,
            "group_label": Dimension(group_by).label,
            "api_url": f"{api}?{urlencode({'interval': interval, 'group_by': group_by})}",
            "span_seconds": int(span.total_seconds()),
            "series": [
                {"start": point["start"].isoformat(), **{k: v for k, v in point.items() if k != "start"}}
                for point in report["series"]
            ],
        },
    )
