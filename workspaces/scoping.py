"""Workspace scoping, written once. Every workspace endpoint derives from one of these classes.

The workspace comes from the API key, or from the URL plus a membership check: never from a request
body. Querysets start from the model's `for_workspace()`, so another workspace's object is simply
not found.
"""

from rest_framework.permissions import SAFE_METHODS

from accounts.authentication import UIAPIMixin

from .authentication import IntegratorAPIMixin
from .models import Membership, Workspace
from .selectors import access_workspace


class _ScopedQuerysetMixin:
    workspace: Workspace
    queryset = None

    def get_queryset(self):
        return self.queryset.model.objects.for_workspace(self.workspace)


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
