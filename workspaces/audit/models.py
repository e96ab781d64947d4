from django.conf import settings
from django.db import models
from django.utils import timezone

from messaging_platform.ids import PrefixedIdField
from workspaces.models import TenantQuerySet, Workspace

# What an audit record can be about: `kind` is "<family>.<verb>", e.g. "api_key.revoked".
FAMILIES = (
    "workspace",
    "member",
    "invitation",
    "api_key",
    "auth_token",
    "carrier_account",
    "carrier_route",
    "number",
    "webhook_endpoint",
    "opt_out",
)


class ActorKind(models.TextChoices):
    USER = "user", "User"
    API_KEY = "api_key", "API key"
    OPERATOR = "operator", "Operator"  # staff of the installation, through the admin
    SYSTEM = "system", "System"  # a task or command, on nobody's request


class AuditRecord(models.Model):
    """One change to a workspace's set-up: who, what, when. Never holds a secret's value."""

    id = PrefixedIdField(prefix="aud")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_records")
    kind = models.CharField(max_length=64)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "workspaces.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so the record still says who it was once the user or key is gone.
    actor_label = models.CharField(max_length=300, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    # {"field": new value}; a secret's field only ever says "[changed]".
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_ws_created")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_label or self.actor_kind}"

    @property
    def actor_id(self) -> str | None:
        return self.actor_user_id or self.actor_api_key_id
