from django.db import models

from messaging.models import Message
from messaging_platform.ids import PrefixedIdField
from numbers.models import PhoneNumber
from workspaces.models import TenantQuerySet, Workspace


class NumberWebhooks(models.Model):
    """What a number's IncomingPhoneNumber resource sets: where its inbound messages are posted."""

    phone_number = models.OneToOneField(
        PhoneNumber, on_delete=models.CASCADE, primary_key=True, related_name="twilio_webhooks"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    sms_url = models.URLField(max_length=2000, blank=True)
    sms_method = models.CharField(max_length=4, default="POST")
    status_callback = models.URLField(max_length=2000, blank=True)
    status_callback_method = models.CharField(max_length=4, default="POST")
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.phone_number_id} → {self.sms_url or '-'}"


class MessageStatusCallback(models.Model):
    """The `StatusCallback` of a message sent through the Twilio-compatible API: posted with
    Twilio's parameters and signature, unlike the platform's own JSON `status_callback`."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, primary_key=True, related_name="twilio_status_callback"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    # The last status posted: a message republished without a new status is not posted again.
    last_status = models.CharField(max_length=12, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.message_id} → {self.url}"


class CallbackKind(models.TextChoices):
    STATUS = "status", "Status callback"
    INCOMING = "incoming", "Incoming message (SmsUrl)"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class CallbackDelivery(models.Model):
    """One signed form post to an application, retried until it succeeds or runs out of attempts;
    its last answer is kept for debugging."""

    id = PrefixedIdField(prefix="twcb")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, null=True, related_name="+")
    kind = models.CharField(max_length=8, choices=CallbackKind.choices)
    url = models.URLField(max_length=2000)
    method = models.CharField(max_length=4, default="POST")
    params = models.JSONField()
    status = models.CharField(max_length=10, choices=CallbackStatus.choices, default=CallbackStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "callback deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="twcb_pending_due", condition=models.Q(status="pending")
            ),
            models.Index(fields=["message", "created_at"], name="twcb_message"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id} → {self.url}"
