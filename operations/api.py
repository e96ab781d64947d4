"""Retention settings and redaction on request."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from messaging.serializers import MessageSerializer
from workspaces.scoping import IntegratorWorkspaceMixin, WorkspaceMemberMixin

from . import retention


class RetentionSerializer(serializers.Serializer):
    body_retention_days = serializers.IntegerField(min_value=1, max_value=36500, allow_null=True,
                                                   help_text="Null: keep bodies and media forever")
    mask_numbers = serializers.BooleanField(default=False)


def _answer(policy) -> dict:
    return {"body_retention_days": policy.body_retention_days, "mask_numbers": policy.mask_numbers}


@extend_schema(tags=["workspaces"])
class RetentionView(WorkspaceMemberMixin, APIView):
    """How long message bodies and media are kept (members read; owners and admins change)."""

    @extend_schema(responses=RetentionSerializer, summary="The workspace's retention")
    def get(self, request, workspace_id):
        return Response(_answer(retention.policy_of(self.workspace)))

    @extend_schema(request=RetentionSerializer, responses=RetentionSerializer,
                   summary="Set the workspace's retention")
    def put(self, request, workspace_id):
        serializer = RetentionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = retention.retention_set(workspace=self.workspace, **serializer.validated_data)
        return Response(_answer(policy))


@extend_schema(tags=["messages"])
class MessageRedactView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(request=None, responses=MessageSerializer,
                   summary="Remove a message's body and media (its status stays)")
    def post(self, request, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(retention.message_redact(message=message)).data)


@extend_schema(tags=["messages"])
class WorkspaceMessageRedactView(WorkspaceMemberMixin, APIView):
    @extend_schema(request=None, responses=MessageSerializer,
                   summary="Remove a message's body and media (owners and admins)")
    def post(self, request, workspace_id, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(retention.message_redact(message=message)).data)
