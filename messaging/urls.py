from django.urls import path

from . import api, webhooks

ws = "api/ui/workspaces/<str:workspace_id>"

urlpatterns = [
    path("api/messages", api.MessageListView.as_view(), name="message-list"),
    path("api/messages/batch", api.MessageBatchView.as_view(), name="message-batch"),
    path("api/messages/preview", api.MessagePreviewView.as_view(), name="message-preview"),
    path("api/messages/<str:message_id>", api.MessageDetailView.as_view(), name="message-detail"),
    path("api/messages/<str:message_id>/cancel", api.MessageCancelView.as_view(),
         name="message-cancel"),
    path(f"{ws}/messages", api.WorkspaceMessageListView.as_view(), name="ws-message-list"),
    path(f"{ws}/messages/preview", api.WorkspaceMessagePreviewView.as_view(),
         name="ws-message-preview"),
    path(f"{ws}/messages/<str:message_id>", api.WorkspaceMessageDetailView.as_view(),
         name="ws-message-detail"),
    path(f"{ws}/messages/<str:message_id>/cancel", api.WorkspaceMessageCancelView.as_view(),
         name="ws-message-cancel"),
    path(f"{ws}/conversations", api.ConversationListView.as_view(), name="conversation-list"),
    path(f"{ws}/conversations/<str:conversation_id>", api.ConversationDetailView.as_view(),
         name="conversation-detail"),
    path(f"{ws}/conversations/<str:conversation_id>/read", api.ConversationReadView.as_view(),
         name="conversation-read"),
    path(f"{ws}/opt-outs", api.OptOutListView.as_view(), name="opt-out-list"),
    path("webhooks/twilio/<str:workspace_id>/inbound", webhooks.twilio_webhook,
         {"kind": "inbound"}, name="twilio-inbound"),
    path("webhooks/twilio/<str:workspace_id>/status", webhooks.twilio_webhook,
         {"kind": "status"}, name="twilio-status"),
]
