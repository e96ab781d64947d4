from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from workspaces.models import TenantQuerySet, Workspace


class RetentionPolicy(models.Model):
    """How long a workspace keeps message bodies and media. Statuses, segments and dates stay
    (the dashboard's counts), only the content goes."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="retention")
    # Null: keep forever (the default).
    body_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)])
    # Also mask the contact's number on redacted messages (+1415555**** ).
    mask_numbers = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Retention of {self.workspace_id}: {self.body_retention_days or '∞'} days"
