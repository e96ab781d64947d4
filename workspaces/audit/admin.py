from django.contrib import admin

from .models import AuditRecord
from .services import audit_record


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "kind", "actor_kind", "actor_label", "target_label"]
    list_filter = ["actor_kind", "kind"]
    search_fields = ["workspace__id", "workspace__name", "actor_label", "target_id", "target_label"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "workspace",
        "kind",
        "actor_kind",
        "actor_user",
        "actor_api_key",
        "actor_label",
        "target_type",
        "target_id",
        "target_label",
        "changes",
        "created_at",
    ]
    readonly_fields = fields

    # The log is a record: nobody adds to or edits it by hand. (Deleting stays allowed: deleting a
    # workspace in the admin deletes its records, and the admin checks that permission first.)
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AuditedAdminMixin:
    """Records an operator's additions, changes and deletions of a workspace's objects in the
    admin (`audit_family` names them: "number", "opt_out", …)."""

    audit_family: str

    def save_model(self, request, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        verb = "updated" if change else "added"
        audit_record(
            _workspace(obj),
            f"{self.audit_family}.{verb}",
            obj,
            **{name: form.cleaned_data.get(name) for name in form.changed_data},
        )

    def delete_model(self, request, obj) -> None:
        audit_record(_workspace(obj), f"{self.audit_family}.deleted", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            audit_record(_workspace(obj), f"{self.audit_family}.deleted", obj)
        super().delete_queryset(request, queryset)


def _workspace(obj):
    from workspaces.models import Workspace

    return obj if isinstance(obj, Workspace) else obj.workspace
