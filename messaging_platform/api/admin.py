from django.contrib import admin

from .models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "scope", "status_code", "created_at"]
    search_fields = ["key", "scope"]
    # The stored answer is not shown: it may hold a secret (an API key created with this key).
    fields = ["scope", "key", "fingerprint", "status_code", "created_at"]
    readonly_fields = fields
    date_hierarchy = "created_at"
