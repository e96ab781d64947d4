from django.urls import path

from workspaces.scoping import UI

from . import api, campaign_views, campaigns_api, event_webhooks_api, views, webhook_views, webhooks

ws = "api/ui/workspaces/<str:workspace_id>"
w = "w/<str:ws>"  # the pages

urlpatterns = [
    path("api/messages", api.MessageListView.as_view(), name="message-list"),
    path("api/messages/batch", api.MessageBatchView.as_view(), name="message-batch"),
    path("api/messages/preview", api.MessagePreviewView.as_view(), name="message-preview"),
    path("api/messages/<str:message_id>", api.MessageDetailView.as_view(), name="message-detail"),
    path("api/messages/<str:message_id>/cancel", api.MessageCancelView.as_view(), name="message-cancel"),
    path(f"{ws}/messages", api.MessageListView.as_view(surface=UI), name="ws-message-list"),
    path(f"{ws}/messages/export", campaigns_api.MessageExportView.as_view(), name="ws-message-export"),
    path(f"{ws}/messages/preview", api.MessagePreviewView.as_view(surface=UI), name="ws-message-preview"),
    path(
        f"{ws}/messages/<str:message_id>", api.MessageDetailView.as_view(surface=UI), name="ws-message-detail"
    ),
    path(
        f"{ws}/messages/<str:message_id>/cancel",
        api.MessageCancelView.as_view(surface=UI),
        name="ws-message-cancel",
    ),
    path(f"{ws}/conversations", api.ConversationListView.as_view(), name="conversation-list"),
    path(
        f"{ws}/conversations/<str:conversation_id>",
        api.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        f"{ws}/conversations/<str:conversation_id>/read",
        api.ConversationReadView.as_view(),
        name="conversation-read",
    ),
    path(f"{ws}/contacts", campaigns_api.ContactListView.as_view(), name="contact-list"),
    path(f"{ws}/contacts/import", campaigns_api.ContactImportView.as_view(), name="contact-import"),
    path(
        f"{ws}/contacts/import/<str:import_id>",
        campaigns_api.ContactImportDetailView.as_view(),
        name="contact-import-detail",
    ),
    path(f"{ws}/contacts/export", campaigns_api.ContactExportView.as_view(), name="contact-export"),
    path(f"{ws}/contacts/<str:contact_id>", campaigns_api.ContactDetailView.as_view(), name="contact-detail"),
    path(f"{ws}/templates", campaigns_api.TemplateListView.as_view(), name="template-list"),
    path(f"{ws}/templates/preview", campaigns_api.TemplatePreviewView.as_view(), name="template-preview"),
    path(
        f"{ws}/templates/<str:template_id>",
        campaigns_api.TemplateDetailView.as_view(),
        name="template-detail",
    ),
    path(f"{ws}/broadcasts", campaigns_api.BroadcastListView.as_view(), name="broadcast-list"),
    path(
        f"{ws}/broadcasts/<str:broadcast_id>",
        campaigns_api.BroadcastDetailView.as_view(),
        name="broadcast-detail",
    ),
    path(
        f"{ws}/broadcasts/<str:broadcast_id>/preview",
        campaigns_api.BroadcastPreviewView.as_view(),
        name="broadcast-preview",
    ),
    path(
        f"{ws}/broadcasts/<str:broadcast_id>/send",
        campaigns_api.BroadcastSendView.as_view(),
        name="broadcast-send",
    ),
    path(
        f"{ws}/broadcasts/<str:broadcast_id>/cancel",
        campaigns_api.BroadcastCancelView.as_view(),
        name="broadcast-cancel",
    ),
    path(f"{ws}/opt-outs", api.OptOutListView.as_view(), name="opt-out-list"),
    path(f"{ws}/webhooks", event_webhooks_api.WebhookEndpointListView.as_view(), name="webhook-list"),
    path(
        f"{ws}/webhooks/<str:endpoint_id>",
        event_webhooks_api.WebhookEndpointDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        f"{ws}/webhooks/<str:endpoint_id>/rotate-secret",
        event_webhooks_api.WebhookEndpointRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        f"{ws}/webhooks/<str:endpoint_id>/test",
        event_webhooks_api.WebhookEndpointTestView.as_view(),
        name="webhook-test",
    ),
    path(
        f"{ws}/webhooks/<str:endpoint_id>/deliveries",
        event_webhooks_api.WebhookDeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        f"{ws}/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>",
        event_webhooks_api.WebhookDeliveryDetailView.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        f"{ws}/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver",
        event_webhooks_api.WebhookDeliveryRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
    # Every carrier's webhooks, the routes its adapter declares (Twilio's: inbound, status).
    path(
        "webhooks/<slug:provider>/<str:workspace_id>/<slug:route>",
        webhooks.carrier_webhook,
        name="carrier-webhook",
    ),
    path(f"{w}/inbox/", views.inbox, name="inbox"),
    path(f"{w}/inbox/send", views.send, name="send"),
    path(f"{w}/inbox/<str:conversation_id>/", views.thread, name="thread"),
    path(f"{w}/inbox/<str:conversation_id>/simulate-reply", views.simulate_reply, name="simulate-reply"),
    path(f"{w}/messages/", views.message_log, name="log"),
    path(f"{w}/messages/<str:message_id>/", views.message_detail, name="log-detail"),
    path(f"{w}/settings/opt-outs/", views.opt_outs, name="opt-outs"),
    path(f"{w}/settings/opt-outs/remove", views.opt_out_remove, name="opt-out-remove"),
    path(f"{w}/inbox/<str:conversation_id>/consent", views.thread_consent, name="thread-consent"),
    path(f"{w}/messages/<str:message_id>/retry", views.message_retry, name="message-retry-page"),
    path(f"{w}/messages/<str:message_id>/cancel", views.message_cancel, name="message-cancel-page"),
    path(f"{w}/settings/webhooks/", webhook_views.webhook_list, name="webhooks"),
    path(f"{w}/settings/webhooks/<str:endpoint_id>/", webhook_views.webhook_detail, name="webhook-page"),
    path(
        f"{w}/settings/webhooks/<str:endpoint_id>/<slug:action>",
        webhook_views.webhook_action,
        name="webhook-action",
    ),
    path(
        f"{w}/settings/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver",
        webhook_views.webhook_redeliver,
        name="webhook-redeliver-page",
    ),
    path(f"{w}/contacts/", campaign_views.contact_list, name="contacts"),
    path(f"{w}/contacts/<str:contact_id>/delete", campaign_views.contact_delete, name="contact-delete-page"),
    path(f"{w}/contacts/import/<str:import_id>/", campaign_views.contact_import, name="contact-import-page"),
    path(f"{w}/templates/", campaign_views.template_list, name="templates"),
    path(f"{w}/templates/<str:template_id>/", campaign_views.template_edit, name="template-page"),
    path(f"{w}/broadcasts/", campaign_views.broadcast_list, name="broadcasts"),
    path(f"{w}/broadcasts/new", campaign_views.broadcast_new, name="broadcast-new"),
    path(f"{w}/broadcasts/<str:broadcast_id>/", campaign_views.broadcast_detail, name="broadcast-page"),
]
