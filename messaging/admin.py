from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from messaging_platform.errors import DomainError
from workspaces.audit.admin import AuditedAdminMixin

from .carrier_events import carrier_events_retry
from .lifecycle import message_cancel, message_retry
from .models import (
    Broadcast,
    CarrierEvent,
    ConsentEvent,
    Contact,
    ContactImport,
    Conversation,
    Message,
    MessageEvent,
    MessageTemplate,
    OptOut,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "status", "error_code", "error_message", "source"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class CarrierEventInline(admin.TabularInline):
    model = CarrierEvent
    extra = 0
    can_delete = False
    fields = ["received_at", "kind", "provider", "params", "processed_at", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "workspace",
        "direction",
        "status",
        "to_number",
        "from_number",
        "created_at",
        "error_code",
    ]
    list_filter = ["direction", "status", "encoding"]
    search_fields = [
        "=id",
        "=provider_sid",
        "to_number",
        "from_number",
        "body",
        "workspace__name",
        "=workspace__id",
    ]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]  # newest first (ids are random: they do not sort by age)
    list_select_related = ["workspace"]
    readonly_fields = [f.name for f in Message._meta.fields]
    inlines = [MessageEventInline, CarrierEventInline]
    actions = ["retry", "cancel"]
    show_full_result_count = False  # counting millions of rows on every page is slow
    change_form_template = "admin/messaging/message/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def get_urls(self):
        retry = self.admin_site.admin_view(require_POST(self.retry_view))
        return [path("<path:object_id>/retry/", retry, name="messaging_message_retry"), *super().get_urls()]

    def retry_view(self, request, object_id: str):
        """The change page's Retry button: the same operator retry as the list's action."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        message = get_object_or_404(Message, pk=unquote(object_id))
        self._apply(request, Message.objects.filter(pk=message.pk), message_retry, "queued again")
        return redirect(reverse("admin:messaging_message_change", args=[message.pk]))

    @admin.action(description="Retry the selected failed messages")
    def retry(self, request, queryset):
        self._apply(request, queryset, message_retry, "queued again")

    @admin.action(description="Cancel the selected scheduled messages")
    def cancel(self, request, queryset):
        self._apply(request, queryset, message_cancel, "canceled")

    def _apply(self, request, queryset, action, verb: str) -> None:
        done, refused = 0, []
        for message in queryset:
            try:
                action(message=message, source="operator")
                done += 1
            except DomainError as exc:
                refused.append(f"{message.id}: {exc.detail}")
        if done:
            self.message_user(request, f"{done} message(s) {verb}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "workspace", "our_number", "contact_number", "last_message_at", "unread_count"]
    search_fields = ["=id", "our_number", "contact_number", "=workspace__id"]
    readonly_fields = ["id", "workspace", "last_message", "created_at"]


@admin.register(CarrierEvent)
class CarrierEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "workspace",
        "kind",
        "provider",
        "provider_sid",
        "received_at",
        "processed_at",
        "attempts",
        "dead_at",
        "error",
    ]
    # "Dead at: not empty" lists the dead-lettered events; "apply again" re-runs them.
    list_filter = [
        "kind",
        "provider",
        ("processed_at", admin.EmptyFieldListFilter),
        ("dead_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["=id", "=provider_sid", "dedupe_key", "=workspace__id"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in CarrierEvent._meta.fields]
    actions = ["apply_again"]

    @admin.action(description="Apply the selected unprocessed events again")
    def apply_again(self, request, queryset):
        count = carrier_events_retry(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} event(s) will be applied again.", messages.SUCCESS)


@admin.register(OptOut)
class OptOutAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "opt_out"
    list_display = ["phone_number", "workspace", "keyword", "created_at"]
    search_fields = ["phone_number", "=workspace__id"]


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "workspace", "action", "keyword", "created_at"]
    list_filter = ["action"]
    search_fields = ["phone_number", "=workspace__id"]
    date_hierarchy = "created_at"
    readonly_fields = ["workspace", "phone_number", "action", "keyword", "message", "created_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "webhook_endpoint"
    list_display = ["id", "workspace", "url", "is_active", "failing_since", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["=id", "url", "=workspace__id", "workspace__name"]
    # Never the secret: operators see everything else.
    fields = [
        "id",
        "workspace",
        "url",
        "description",
        "events",
        "is_active",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "id",
        "workspace",
        "url",
        "events",
        "disabled_at",
        "failing_since",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # endpoints get their secret from the API, shown to the workspace once


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "error", "duration_ms", "response_body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["=id", "=event_id", "=message_id", "=endpoint__id", "=workspace__id"]
    date_hierarchy = "created_at"
    list_select_related = ["endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "name", "workspace", "created_at"]
    search_fields = ["phone_number", "name", "=id", "=workspace__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = ["id", "workspace", "status", "processed_rows", "total_rows", "error_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["=id", "=workspace__id"]
    ordering = ["-created_at"]
    readonly_fields = [f.name for f in ContactImport._meta.fields]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "updated_at"]
    search_fields = ["name", "=id", "=workspace__id"]


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "status", "total", "created_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["name", "=id", "=workspace__id"]
    ordering = ["-created_at"]
    readonly_fields = [
        "generated",
        "total",
        "skipped_opted_out",
        "skipped_invalid",
        "skipped",
        "started_at",
        "completed_at",
        "canceled_at",
    ]
