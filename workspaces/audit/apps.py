from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "workspaces.audit"
    label = "audit"
    verbose_name = "Audit log"
