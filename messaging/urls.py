from django.urls import path

from . import api, outbound_api, views, webhooks

ws = "api/ui/workspaces/<str:workspace_id>"
w = "w/<str:ws>"  # the pages

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
    path(f"{ws}/webhooks", outbound_api.WebhookEndpointListView.as_view(), name="webhook-list"),
    path(f"{ws}/webhooks/<str:endpoint_id>", outbound_api.WebhookEndpointDetailView.as_view(),
         name="webhook-detail"),
    path(f"{ws}/webhooks/<str:endpoint_id>/rotate-secret",
         outbound_api.WebhookEndpointRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path(f"{ws}/webhooks/<str:endpoint_id>/test", outbound_api.WebhookEndpointTestView.as_view(),
         name="webhook-test"),
    path(f"{ws}/webhooks/<str:endpoint_id>/deliveries",
         outbound_api.WebhookDeliveryListView.as_view(), name="webhook-delivery-list"),
    path(f"{ws}/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>",
         outbound_api.WebhookDeliveryDetailView.as_view(), name="webhook-delivery-detail"),
    # Every carrier's webhooks, the routes its adapter declares (Twilio's: inbound, status).
    path("webhooks/<slug:provider>/<str:workspace_id>/<slug:route>", webhooks.carrier_webhook,
         name="carrier-webhook"),
    path(f"{w}/inbox/", views.inbox, name="inbox"),
    path(f"{w}/inbox/send", views.send, name="send"),
    path(f"{w}/inbox/<str:conversation_id>/", views.thread, name="thread"),
    path(f"{w}/inbox/<str:conversation_id>/simulate-reply", views.simulate_reply,
         name="simulate-reply"),
    path(f"{w}/messages/", views.message_log, name="log"),
    path(f"{w}/messages/<str:message_id>/", views.message_detail, name="log-detail"),
    path(f"{w}/settings/opt-outs/", views.opt_outs, name="opt-outs"),
]
