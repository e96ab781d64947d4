from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from messaging_platform.ids import PrefixedIdField
from workspaces.models import TenantQuerySet, Workspace


class RetentionPolicy(models.Model):
    """How long a workspace keeps message bodies and media. Statuses, segments and dates stay
    (the dashboard's counts), only the content goes."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="retention")
    # Null: keep forever (the default).
    body_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)]
    )
    # Also mask the contact's number on redacted messages (+1415555**** ).
    mask_numbers = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Retention of {self.workspace_id}: {self.body_retention_days or '∞'} days"


class AlertKind(models.TextChoices):
    DELIVERY_RATE = "delivery_rate", "Delivery rate under a threshold"
    CARRIER_ERRORS = "carrier_errors", "A carrier error code at or over a count"
    QUEUE_BACKLOG = "queue_backlog", "The oldest due send waiting longer than a bound"


class AlertRule(models.Model):
    """A condition the workspace wants to be told about, through its webhook endpoints
    (`alert.*` events) and by email: once when it starts, once when it clears."""

    id = PrefixedIdField(prefix="alr")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="alert_rules")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    # delivery_rate: a share (0.9); carrier_errors: a count in the window; queue_backlog: seconds.
    threshold = models.FloatField(validators=[MinValueValidator(0)])
    window_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    # delivery_rate: judged only over at least this many finished messages in the window.
    min_messages = models.PositiveIntegerField(default=20)
    error_code = models.CharField(max_length=16, blank=True)  # carrier_errors: blank is any code
    email = models.EmailField(blank=True)
    firing_since = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.threshold})"
