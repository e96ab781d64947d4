"""Reads with their permission checks. Another workspace's object answers like a missing one."""

from typing import Any

from django.utils import timezone

from messaging_platform.errors import forbidden, not_found
from messaging_platform.tokens import hash_secret

from .models import Invitation, Membership, Workspace


def access_workspace(*, user: Any, workspace_id: str, manage: bool = False) -> Membership:
    """The caller's membership in a workspace; 404 if not a member, 403 if managing needs a role.
    `user` is `request.user`: a User, or an anonymous one (a member of nothing)."""
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=workspace_id, workspace__is_active=True)
        .first()
    )
    if membership is None:
        raise not_found("Workspace not found.")
    if manage and not membership.can_manage:
        raise forbidden("Only owners and admins of this workspace can do this.")
    return membership


def workspaces_for_user(*, user: Any) -> list[tuple[Workspace, str]]:
    memberships = Membership.objects.select_related("workspace").filter(user=user, workspace__is_active=True)
    return [(m.workspace, m.role) for m in memberships.order_by("workspace__created_at")]


def in_workspace(queryset: Any, *, workspace: Workspace, pk: str, missing: str) -> Any:
    """The object `pk` of `queryset`'s model within the workspace; another workspace's object is a
    404 with `missing` as the detail, exactly like one that does not exist."""
    found = queryset.for_workspace(workspace).filter(pk=pk).first()
    if found is None:
        raise not_found(missing)
    return found


def invitation_preview(*, token: str) -> Invitation | None:
    """The pending invitation of a token (with its workspace and inviter), or None: what the
    accept page shows before anyone signs in. Holding the token is what entitles one to see it."""
    if not token:
        return None
    return (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(
            token_hash=hash_secret(token),
            accepted_at__isnull=True,
            expires_at__gt=timezone.now(),
            workspace__is_active=True,
        )
        .first()
    )
