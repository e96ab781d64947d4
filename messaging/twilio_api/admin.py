from django.contrib import admin

from .models import CallbackDelivery, NumberWebhooks


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    """Twilio-style status callbacks and SmsUrl posts, with how their last attempt went."""

    list_display = [
        "id",
        "kind",
        "workspace",
        "message",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["id", "message__id", "workspace__id", "url"]
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]
    list_select_related = ["workspace"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(NumberWebhooks)
class NumberWebhooksAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "workspace", "sms_url", "sms_method", "updated_at"]
    search_fields = ["phone_number__phone_number", "workspace__id", "sms_url"]
    raw_id_fields = ["phone_number", "workspace"]
