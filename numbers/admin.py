from django import forms
from django.contrib import admin

from workspaces.audit.admin import AuditedAdminMixin

from .models import PhoneNumber, ProviderAccount


class ProviderAccountForm(forms.ModelForm):
    # The stored token is never sent to the browser, not even encrypted: the form only takes a
    # new one, in a password input that does not render its value back.
    new_auth_token = forms.CharField(
        label="New Auth Token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored token. Operators' changes here are not checked "
        "with the carrier; use the workspace's provider settings for that.",
    )

    class Meta:
        model = ProviderAccount
        fields = ["workspace", "provider", "account_sid", "messaging_service_sid"]


@admin.register(ProviderAccount)
class ProviderAccountAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "carrier_account"
    form = ProviderAccountForm
    list_display = ["workspace", "provider", "account_sid", "auth_token_set", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["account_sid", "messaging_service_sid", "workspace__name", "workspace__id"]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["auth_token_set", "created_at", "updated_at"]
    fields = [
        "workspace",
        "provider",
        "account_sid",
        "messaging_service_sid",
        "auth_token_set",
        "new_auth_token",
        "created_at",
        "updated_at",
    ]

    @admin.display(boolean=True, description="Auth Token set")
    def auth_token_set(self, obj: ProviderAccount) -> bool:
        return obj.auth_token_set

    def save_model(self, request, obj: ProviderAccount, form, change: bool) -> None:
        if form.cleaned_data.get("new_auth_token"):
            obj.auth_token = form.cleaned_data["new_auth_token"]
        super().save_model(request, obj, form, change)


class CapabilityFilter(admin.SimpleListFilter):
    title = "capability"
    parameter_name = "capability"

    def lookups(self, request, model_admin):
        return [("sms", "SMS"), ("mms", "MMS"), ("voice", "Voice")]

    def queryset(self, request, queryset):
        if self.value() in ("sms", "mms", "voice"):
            return queryset.filter(**{f"{self.value()}_enabled": True})
        return queryset


@admin.register(PhoneNumber)
class PhoneNumberAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "number"
    list_display = [
        "phone_number",
        "friendly_name",
        "workspace",
        "number_type",
        "sms_enabled",
        "mms_enabled",
        "voice_enabled",
        "is_default",
        "created_at",
    ]
    list_filter = [CapabilityFilter, "number_type", "is_default"]
    search_fields = [
        "phone_number",
        "friendly_name",
        "provider_sid",
        "workspace__name",
        "workspace__id",
        "account__account_sid",
    ]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
