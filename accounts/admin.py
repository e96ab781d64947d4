from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import SessionToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "name", "id"]
    readonly_fields = ["id", "date_joined", "last_login"]
    date_hierarchy = "date_joined"
    fieldsets = [
        (None, {"fields": ["id", "email", "name", "password"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]


@admin.register(SessionToken)
class SessionTokenAdmin(admin.ModelAdmin):
    # The token hash is never shown: it identifies a live session.
    list_display = ["id", "user", "created_at", "expires_at", "last_used_at"]
    search_fields = ["id", "user__email"]
    fields = ["id", "user", "created_at", "expires_at", "last_used_at", "user_agent"]
    readonly_fields = fields
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False
