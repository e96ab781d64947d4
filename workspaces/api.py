"""UI API for workspaces, members, invitations and API keys; the integrator's own workspace; who
am I (`/api/auth/me`: the person with their workspaces)."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import UIAPIMixin
from accounts.serializers import MeSerializer
from messaging_platform.api.idempotency import idempotent
from messaging_platform.errors import DomainError

from . import services
from .models import ApiKey, AuthToken, Invitation, Membership, Workspace
from .scoping import WorkspaceMemberMixin
from .selectors import workspaces_for_user
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyInputSerializer,
    ApiKeySerializer,
    AuthTokenCreatedSerializer,
    AuthTokenSerializer,
    InvitationAcceptSerializer,
    InvitationInputSerializer,
    InvitationSerializer,
    MemberSerializer,
    RoleInputSerializer,
    WorkspaceInputSerializer,
    WorkspaceSerializer,
    WorkspaceUpdateSerializer,
)


def _workspace_answer(workspace: Workspace, role: str) -> dict:
    return WorkspaceSerializer(
        {
            "id": workspace.id,
            "name": workspace.name,
            "role": role,
            "created_at": workspace.created_at,
            "account_sid": workspace.account_sid,
            "timezone": workspace.timezone,
        }
    ).data


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["workspaces"])
class WorkspaceListView(UIAPIMixin, generics.GenericAPIView):
    serializer_class = WorkspaceSerializer

    def get_queryset(self):
        return (
            Membership.objects.select_related("workspace")
            .filter(user=self.request.user, workspace__is_active=True)
            .order_by("workspace__created_at", "workspace_id")
        )

    @extend_schema(responses=WorkspaceSerializer(many=True), summary="Workspaces I belong to")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([_workspace_answer(m.workspace, m.role) for m in page])

    @extend_schema(
        request=WorkspaceInputSerializer,
        responses={201: WorkspaceSerializer},
        summary="Create a workspace (you become its owner)",
    )
    @idempotent
    def post(self, request):
        data = _valid(WorkspaceInputSerializer, request.data)
        workspace = services.workspace_create(user=request.user, name=data["name"])
        return Response(_workspace_answer(workspace, "owner"), status=status.HTTP_201_CREATED)


@extend_schema(tags=["workspaces"])
class WorkspaceDetailView(WorkspaceMemberMixin, APIView):
    serializer_class = WorkspaceSerializer

    def requires_manager(self, request) -> bool:
        # Deleting is checked by the service (owners only); changing it needs owner or admin.
        return request.method in ("PATCH", "PUT")

    @extend_schema(responses=WorkspaceSerializer, summary="One workspace")
    def get(self, request, workspace_id):
        return Response(_workspace_answer(self.workspace, self.membership.role))

    @extend_schema(
        request=WorkspaceUpdateSerializer(partial=True),
        responses=WorkspaceSerializer,
        summary="Rename a workspace or set its time zone",
        description="Any of `name` and `timezone` (an IANA zone name); at least one.",
    )
    def patch(self, request, workspace_id):
        return self._update(request, partial=True)

    @extend_schema(
        request=WorkspaceUpdateSerializer,
        responses=WorkspaceSerializer,
        summary="Set a workspace's name and time zone",
    )
    def put(self, request, workspace_id):
        return self._update(request, partial=False)

    def _update(self, request, *, partial: bool) -> Response:
        serializer = WorkspaceUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data:
            raise DomainError(
                "missing_params", "Give name or timezone.", fields={"name": ["Give name or timezone."]}
            )
        workspace = services.workspace_update(
            workspace=self.workspace, name=data.get("name"), zone=data.get("timezone")
        )
        return Response(_workspace_answer(workspace, self.membership.role))

    @extend_schema(responses={204: None}, summary="Delete a workspace (owners only)")
    def delete(self, request, workspace_id):
        services.workspace_delete(membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"])
class MemberListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = Membership
    serializer_class = MemberSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("user").order_by("created_at", "pk")


@extend_schema(tags=["members"])
class MemberDetailView(WorkspaceMemberMixin, APIView):
    def requires_manager(self, request) -> bool:
        return False  # anyone may leave; the service checks the rest

    @extend_schema(request=RoleInputSerializer, responses=MemberSerializer, summary="Change a member's role")
    def patch(self, request, workspace_id, user_id):
        data = _valid(RoleInputSerializer, request.data)
        member = services.member_change_role(actor=self.membership, user_id=user_id, role=data["role"])
        return Response(MemberSerializer(member).data)

    @extend_schema(responses={204: None}, summary="Remove a member, or leave the workspace")
    def delete(self, request, workspace_id, user_id):
        services.member_remove(actor=self.membership, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"])
class InvitationListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = Invitation
    serializer_class = InvitationSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("invited_by").order_by("-created_at", "pk")

    @extend_schema(
        request=InvitationInputSerializer,
        responses={201: InvitationSerializer},
        summary="Invite someone by email",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(InvitationInputSerializer, request.data)
        issued = services.invitation_create(actor=self.membership, **data)
        return Response(InvitationSerializer(issued.invitation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["members"])
class InvitationDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses={204: None}, summary="Revoke a pending invitation")
    def delete(self, request, workspace_id, invitation_id):
        services.invitation_revoke(actor=self.membership, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"])
class InvitationAcceptView(UIAPIMixin, APIView):
    @extend_schema(
        request=InvitationAcceptSerializer,
        responses=WorkspaceSerializer,
        summary="Accept an invitation with its token",
    )
    def post(self, request):
        data = _valid(InvitationAcceptSerializer, request.data)
        membership = services.invitation_accept(user=request.user, token=data["token"])
        return Response(_workspace_answer(membership.workspace, membership.role))


@extend_schema(tags=["api keys"])
class ApiKeyListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = ApiKey
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return super().get_queryset().filter(revoked_at__isnull=True).order_by("-created_at", "pk")

    @extend_schema(
        request=ApiKeyInputSerializer,
        responses={201: ApiKeyCreatedSerializer},
        summary="Create an API key (its secret is shown once)",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(ApiKeyInputSerializer, request.data)
        issued = services.api_key_create(actor=self.membership, name=data["name"])
        answer = ApiKeySerializer(issued.api_key).data | {"key": issued.key}
        return Response(answer, status=status.HTTP_201_CREATED)


@extend_schema(tags=["api keys"])
class ApiKeyDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses={204: None}, summary="Revoke an API key")
    def delete(self, request, workspace_id, api_key_id):
        services.api_key_revoke(actor=self.membership, api_key_id=api_key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["api keys"])
class AuthTokenListView(WorkspaceMemberMixin, generics.ListAPIView):
    """Passwords of the Twilio-compatible API (docs/twilio-compat.md)."""

    model = AuthToken
    serializer_class = AuthTokenSerializer

    def get_queryset(self):
        return super().get_queryset().filter(revoked_at__isnull=True).order_by("-created_at", "pk")

    @extend_schema(
        request=ApiKeyInputSerializer,
        responses={201: AuthTokenCreatedSerializer},
        summary="Create an auth token for the Twilio-compatible API (shown once)",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(ApiKeyInputSerializer, request.data)
        issued = services.auth_token_create(actor=self.membership, name=data["name"])
        answer = AuthTokenSerializer(issued.auth_token).data | {"token": issued.token}
        return Response(answer, status=status.HTTP_201_CREATED)


@extend_schema(tags=["api keys"])
class AuthTokenDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses={204: None}, summary="Revoke an auth token")
    def delete(self, request, workspace_id, auth_token_id):
        services.auth_token_revoke(actor=self.membership, auth_token_id=auth_token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(UIAPIMixin, APIView):
    @extend_schema(responses=MeSerializer, tags=["auth"], summary="Who am I, with my workspaces")
    def get(self, request):
        workspaces = [
            {"id": ws.id, "name": ws.name, "role": role, "created_at": ws.created_at}
            for ws, role in workspaces_for_user(user=request.user)
        ]
        user = request.user
        return Response(
            MeSerializer(
                {"id": user.id, "email": user.email, "name": user.name, "workspaces": workspaces}
            ).data
        )
