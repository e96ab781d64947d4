"""`GET /api/ui/workspaces/{workspaceId}/audit-log`: owners and admins only."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from workspaces.scoping import WorkspaceMemberMixin

from . import selectors
from .models import AuditRecord


class AuditRecordSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()

    class Meta:
        model = AuditRecord
        fields = ["id", "kind", "actor", "target", "changes", "created_at"]

    def get_actor(self, record: AuditRecord) -> dict:
        return {"type": record.actor_kind, "id": record.actor_id, "label": record.actor_label}

    def get_target(self, record: AuditRecord) -> dict | None:
        if not record.target_type:
            return None
        return {"type": record.target_type, "id": record.target_id, "label": record.target_label}


@extend_schema(
    tags=["workspaces"],
    parameters=[
        OpenApiParameter(
            "actor",
            OpenApiTypes.STR,
            description="A user id, an API key id, or `user`, `api_key`, `operator`, `system`",
        ),
        OpenApiParameter(
            "kind", OpenApiTypes.STR, description="A family (`api_key`) or one kind (`api_key.revoked`)"
        ),
    ],
)
class AuditLogView(WorkspaceMemberMixin, generics.ListAPIView):
    """Who changed what and when in the workspace's set-up. Never a secret's value."""

    model = AuditRecord
    serializer_class = AuditRecordSerializer

    def requires_manager(self, request) -> bool:
        return True

    def get_queryset(self):
        return selectors.audit_log(workspace=self.workspace, filters=self.request.query_params)
