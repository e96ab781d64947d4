"""Retention settings and redaction on request."""

from django.core.validators import validate_email
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from messaging.serializers import MessageSerializer
from messaging_platform.api.fields import StrictCharField, StrictChoiceField, StrictIntegerField
from workspaces.audit.services import audit_record
from workspaces.scoping import IntegratorWorkspaceMixin, WorkspaceMemberMixin
from workspaces.selectors import in_workspace

from . import retention
from .models import AlertKind, AlertRule


class RetentionSerializer(serializers.Serializer):
    body_retention_days = StrictIntegerField(
        min_value=1, max_value=36500, allow_null=True, help_text="Null: keep bodies and media forever"
    )
    mask_numbers = serializers.BooleanField(default=False)


def _answer(policy) -> dict:
    return {"body_retention_days": policy.body_retention_days, "mask_numbers": policy.mask_numbers}


@extend_schema(tags=["workspaces"])
class RetentionView(WorkspaceMemberMixin, APIView):
    """How long message bodies and media are kept (members read; owners and admins change)."""

    @extend_schema(responses=RetentionSerializer, summary="The workspace's retention")
    def get(self, request, workspace_id):
        return Response(_answer(retention.policy_of(self.workspace)))

    @extend_schema(
        request=RetentionSerializer, responses=RetentionSerializer, summary="Set the workspace's retention"
    )
    def put(self, request, workspace_id):
        serializer = RetentionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = retention.retention_set(workspace=self.workspace, **serializer.validated_data)
        return Response(_answer(policy))


@extend_schema(tags=["messages"])
class MessageRedactView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(
        request=None,
        responses=MessageSerializer,
        summary="Remove a message's body and media (its status stays)",
    )
    def post(self, request, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(retention.message_redact(message=message)).data)


@extend_schema(tags=["messages"])
class WorkspaceMessageRedactView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses=MessageSerializer,
        summary="Remove a message's body and media (owners and admins)",
    )
    def post(self, request, workspace_id, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(retention.message_redact(message=message)).data)


def _optional_email(value: str) -> None:
    if value:
        validate_email(value)


class AlertRuleSerializer(serializers.ModelSerializer):
    # A plain string in the schema: "" (no email) is a valid answer, which an email format is not.
    email = StrictCharField(required=False, allow_blank=True, max_length=254, validators=[_optional_email])
    kind = StrictChoiceField(choices=AlertKind.choices)
    error_code = StrictCharField(max_length=16, required=False, allow_blank=True)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "kind",
            "threshold",
            "window_minutes",
            "min_messages",
            "error_code",
            "email",
            "firing_since",
            "last_value",
            "created_at",
        ]
        read_only_fields = ["id", "firing_since", "last_value", "created_at"]

    def validate(self, attrs):
        if attrs.get("kind") == AlertKind.DELIVERY_RATE and attrs.get("threshold", 0) > 1:
            raise serializers.ValidationError({"threshold": ["A delivery rate is between 0 and 1."]})
        return attrs


@extend_schema(tags=["workspaces"])
class AlertRuleListView(WorkspaceMemberMixin, generics.ListCreateAPIView):
    """The workspace's alert rules (members read; owners and admins change)."""

    model = AlertRule
    serializer_class = AlertRuleSerializer

    def perform_create(self, serializer):
        rule = serializer.save(workspace=self.workspace)
        audit_record(self.workspace, "workspace.alert_added", rule, **serializer.validated_data)


@extend_schema(tags=["workspaces"])
class AlertRuleDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses={204: None}, summary="Remove an alert rule")
    def delete(self, request, workspace_id, alert_id):
        rule = in_workspace(
            AlertRule.objects, workspace=self.workspace, pk=alert_id, missing="Alert rule not found."
        )
        with transaction.atomic():
            audit_record(self.workspace, "workspace.alert_removed", rule)
            rule.delete()
        return Response(status=204)
