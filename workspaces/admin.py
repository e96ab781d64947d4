from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from workspaces.audit.admin import AuditedAdminMixin
from workspaces.audit.services import audit_record

from .models import ApiKey, Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "workspace"
    list_display = ["name", "id", "is_active", "member_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "id", "memberships__user__email"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]
    actions = ["disable", "enable"]

    @admin.display(description="Members")
    def member_count(self, obj: Workspace) -> int:
        return obj.memberships.count()

    @admin.action(description="Disable the selected workspaces (keys and members lose access)")
    @transaction.atomic
    def disable(self, request, queryset):
        queryset.update(is_active=False)
        [audit_record(ws, "workspace.disabled", ws) for ws in queryset]

    @admin.action(description="Enable the selected workspaces")
    @transaction.atomic
    def enable(self, request, queryset):
        queryset.update(is_active=True)
        [audit_record(ws, "workspace.enabled", ws) for ws in queryset]


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_family = "member"
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "workspace__name", "workspace__id"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email", "workspace__name", "workspace__id"]
    fields = [
        "id",
        "workspace",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]
    readonly_fields = fields
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # Only the displayable prefix is shown; the hash never is.
    list_display = ["name", "prefix", "workspace", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "id", "workspace__name", "workspace__id"]
    fields = ["id", "workspace", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    @transaction.atomic
    def revoke(self, request, queryset):
        revoking = list(queryset.filter(revoked_at__isnull=True).select_for_update())
        queryset.filter(pk__in=[key.pk for key in revoking]).update(revoked_at=timezone.now())
        [audit_record(key.workspace, "api_key.revoked", key) for key in revoking]
