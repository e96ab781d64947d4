"""`GET /api/insights` (API key) and `GET /api/ui/workspaces/{workspaceId}/insights` (members):
the delivery dashboard's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.errors import invalid_params
from workspaces.models import Workspace
from workspaces.scoping import IntegratorWorkspaceMixin, WorkspaceMemberMixin

from .selectors import GROUPS, INTERVALS, as_text, insights_report, workspace_zone

DEFAULT_PERIOD = timedelta(days=7)
# At most this many buckets in one answer: 100 days by hour, about two years by day.
MAX_SPAN = {"hour": timedelta(days=100), "day": timedelta(days=800)}


def _moment(name: str, text: str, workspace: Workspace) -> datetime:
    """An ISO 8601 date or date and time; one without an offset is in the workspace's zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid_params(
            f"{name}: give an ISO 8601 date or date and time, such as 2026-12-01 or 2026-12-01T08:00:00Z.",
            {name: ["Give an ISO 8601 date or date and time."]},
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=workspace_zone(workspace))
    return value


def insights_params(query, workspace: Workspace) -> dict:
    """The insights query's parameters, checked; a 400 `invalid_params` naming the bad one."""
    interval = query.get("interval") or None
    if interval is not None and interval not in INTERVALS:
        raise invalid_params("interval: one of hour, day.", {"interval": ["One of hour, day."]})
    group_by = query.get("group_by") or "sender"
    if group_by not in GROUPS:
        choices = ", ".join(GROUPS)
        raise invalid_params(f"group_by: one of {choices}.", {"group_by": [f"One of {choices}."]})
    end = _moment("to", query["to"], workspace) if query.get("to") else timezone.now()
    start = _moment("from", query["from"], workspace) if query.get("from") else end - DEFAULT_PERIOD
    if start >= end:
        raise invalid_params("from: must be before to.", {"from": ["Must be before to."]})
    interval = interval or ("hour" if end - start <= timedelta(days=2) else "day")
    if end - start > MAX_SPAN[interval]:
        days = MAX_SPAN[interval].days
        raise invalid_params(
            f"from: at most {days} days before to with interval={interval}.",
            {"from": [f"At most {days} days before to with interval={interval}."]},
        )
    return {"start": start, "end": end, "interval": interval, "group_by": group_by}


class FiguresSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Messages handed to the carrier")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    undelivered = serializers.IntegerField()
    received = serializers.IntegerField(help_text="Inbound messages")
    opt_outs = serializers.IntegerField(help_text="Opt-out keywords received (STOP, …)")
    delivery_rate = serializers.FloatField(
        allow_null=True, help_text="delivered ÷ (delivered + failed + undelivered); null when none ended"
    )
    median_seconds_to_delivered = serializers.FloatField(
        allow_null=True, help_text="From acceptance (or the scheduled time) to delivered"
    )
    p95_seconds_to_delivered = serializers.FloatField(allow_null=True)


class SeriesPointSerializer(FiguresSerializer):
    start = serializers.DateTimeField(help_text="Start of the hour, or of the day in the workspace's zone")


class ErrorCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    provider = serializers.CharField(allow_null=True, help_text="The carrier whose code it is")
    count = serializers.IntegerField(help_text="failed + undelivered")
    failed = serializers.IntegerField()
    undelivered = serializers.IntegerField()
    meaning = serializers.CharField(allow_null=True)
    fix = serializers.CharField(allow_null=True, help_text="What to do about it")


class BreakdownSerializer(FiguresSerializer):
    key = serializers.CharField(
        allow_null=True,
        help_text=(
            "The sender (number or messaging service), the carrier account (ca_…), the country "
            "(ISO 3166 code) or the error code; empty when unknown"
        ),
    )
    label = serializers.CharField(allow_null=True)
    error = ErrorCodeSerializer(required=False, help_text="With group_by=error_code")


class InsightsSerializer(serializers.Serializer):
    # "from" is a Python keyword: the field is added under that name below.
    to = serializers.DateTimeField()
    interval = serializers.ChoiceField(choices=INTERVALS)
    timezone = serializers.CharField(help_text="The workspace's zone, of the day buckets")
    group_by = serializers.ChoiceField(choices=GROUPS)
    totals = FiguresSerializer()
    series = SeriesPointSerializer(many=True)
    breakdown = BreakdownSerializer(many=True, help_text="By group_by, the largest first (at most 50)")
    top_errors = ErrorCodeSerializer(many=True, help_text="The ten most frequent error codes")

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateTimeField(help_text="Start of the first bucket"), **fields}


PARAMETERS = [
    OpenApiParameter(
        "from",
        str,
        description="ISO 8601 date or date and time (default: 7 days before "
        "`to`); without an offset, in the workspace's zone; goes back to its bucket's start",
    ),
    OpenApiParameter("to", str, description="ISO 8601, exclusive (default: now)"),
    OpenApiParameter(
        "interval",
        str,
        enum=list(INTERVALS),
        description="Buckets of the series (default: hour up to 2 days, else day); at most "
        "100 days by hour, 800 by day",
    ),
    OpenApiParameter("group_by", str, enum=list(GROUPS), description="The breakdown (default: sender)"),
]


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def insights_answer(report: dict) -> dict:
    """The report (made with stamp=as_text: its points are JSON values already) as the JSON
    values InsightsSerializer describes. Made by hand: a serializer takes longer than the queries
    over the 2,400 points of 100 days by hour."""
    return {**report, "from": _timestamp(report["from"]), "to": _timestamp(report["to"])}


def insights_document(
    *, workspace: Workspace, start: datetime, end: datetime, interval: str, group_by: str
) -> dict:
    """What the insights API answers for these parameters (insights_params)."""
    return insights_answer(
        insights_report(
            workspace=workspace, start=start, end=end, interval=interval, group_by=group_by, stamp=as_text
        )
    )


def _answer(request, workspace: Workspace) -> Response:
    return Response(
        insights_document(workspace=workspace, **insights_params(request.query_params, workspace))
    )


@extend_schema(tags=["insights"])
class InsightsView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(
        parameters=PARAMETERS,
        responses=InsightsSerializer,
        summary="Delivery figures over time, broken down, with the top error codes",
    )
    def get(self, request):
        return _answer(request, self.workspace)


@extend_schema(tags=["insights"])
class WorkspaceInsightsView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        parameters=PARAMETERS,
        responses=InsightsSerializer,
        summary="Delivery figures over time, broken down, with the top error codes",
    )
    def get(self, request, workspace_id):
        return _answer(request, self.workspace)
