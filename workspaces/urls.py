"""Workspace pages. Page URLs name the workspace `ws` (the API's routes say `workspace_id`)."""

from django.urls import path

from . import views

w = "w/<str:ws>"

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account, name="account"),
    path("workspaces/new/", views.workspace_create, name="workspace-create"),
    path("invitations/accept", views.invitation_accept, name="invitation-accept-page"),
    path(f"{w}/", views.workspace_home, name="workspace-home"),
    path(f"{w}/settings/", views.workspace_settings, name="ws-settings"),
    path(f"{w}/settings/api-keys/", views.api_keys, name="api-keys"),
    path(f"{w}/settings/api-keys/<str:key_id>/revoke", views.api_key_revoke, name="api-key-revoke"),
    path(f"{w}/settings/members/", views.members, name="members"),
    path(f"{w}/settings/members/<str:user_id>/role", views.member_change, name="member-role"),
    path(f"{w}/settings/members/<str:user_id>/remove", views.member_remove, name="member-remove"),
    path(
        f"{w}/settings/invitations/<str:invitation_id>/revoke",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
]
