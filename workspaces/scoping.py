"""Workspace scoping, written once. Every workspace endpoint derives from one of these classes.

The workspace comes from the API key, or from the URL plus a membership check: never from a request
body. Querysets start from the model's `for_workspace()`, so another workspace's object is simply
not found.
"""

from django.db.models import Model, QuerySet
from rest_framework.permissions import SAFE_METHODS

from accounts.authentication import UIAPIMixin
from messaging_platform.api.mixins import RateLimitHeadersMixin

from .authentication import IntegratorAPIMixin
from .models import Membership, Workspace
from .selectors import access_workspace


class _ScopedQuerysetMixin:
    workspace: Workspace
    model: type[Model]  # tenant-owned: its rows are only read through `for_workspace`

    @property
    def queryset(self) -> QuerySet:
        # What DRF and the OpenAPI schema read the model from; never any rows.
        return self.model.objects.none()

    def get_queryset(self) -> QuerySet:
        return self.model.objects.for_workspace(self.workspace)


class WorkspaceMemberMixin(_ScopedQuerysetMixin, UIAPIMixin):
    """UI API views under `/api/ui/workspaces/{workspace_id}/`.

    Members may read; writes need an owner or admin unless `requires_manager` says otherwise.
    """

    membership: Membership

    def requires_manager(self, request) -> bool:
        return request.method not in SAFE_METHODS

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = access_workspace(
            user=request.user,
            workspace_id=kwargs["workspace_id"],
            manage=self.requires_manager(request),
        )
        self.workspace = self.membership.workspace


class IntegratorWorkspaceMixin(_ScopedQuerysetMixin, IntegratorAPIMixin):
    """Integrator API views: the workspace is the API key's."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.workspace = request.auth.workspace


INTEGRATOR, UI = "integrator", "ui"


class WorkspaceAPIMixin(_ScopedQuerysetMixin, RateLimitHeadersMixin):
    """One view for an operation both APIs offer, routed once per surface:
    `as_view(surface=INTEGRATOR)` under `/api/…` (the API key's workspace) and
    `as_view(surface=UI)` under `/api/ui/workspaces/{workspace_id}/…` (a member's: members may read,
    and write unless `requires_manager` says otherwise). Each surface keeps its own
    authentication, permissions and rate limits: those of IntegratorWorkspaceMixin and
    WorkspaceMemberMixin."""

    surface: str = INTEGRATOR
    membership: Membership | None = None

    def _surface(self) -> type:
        return IntegratorWorkspaceMixin if self.surface == INTEGRATOR else WorkspaceMemberMixin

    def get_authenticators(self) -> list:
        return [authentication() for authentication in self._surface().authentication_classes]

    def get_permissions(self) -> list:
        return [permission() for permission in self._surface().permission_classes]

    def get_throttles(self) -> list:
        return [throttle() for throttle in self._surface().throttle_classes]

    def requires_manager(self, request) -> bool:
        return request.method not in SAFE_METHODS

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.surface == INTEGRATOR:
            self.workspace = request.auth.workspace
        else:
            self.membership = access_workspace(
                user=request.user, workspace_id=kwargs["workspace_id"], manage=self.requires_manager(request)
            )
            self.workspace = self.membership.workspace

    def origin(self) -> dict:
        """Who a message sent through this request is from: the API key, or the member."""
        if self.surface == INTEGRATOR:
            return {"api_key": self.request.auth}
        return {"sent_by": self.request.user}
