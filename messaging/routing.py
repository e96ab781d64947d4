"""The messaging app's WebSocket routes."""

from django.urls import path

from .consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/workspaces/<str:workspace_id>/", WorkspaceConsumer.as_asgi()),
]
