from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from messaging_platform.crypto import EncryptedTextField
from messaging_platform.ids import IdGenerator, PrefixedIdField
from workspaces.models import TenantQuerySet, Workspace


class ProviderKind(models.TextChoices):
    SIMULATOR = "simulator", "Simulator"
    TWILIO = "twilio", "Twilio"
    TELNYX = "telnyx", "Telnyx"
    SMPP = "smpp", "SMPP"


class CarrierAccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"  # kept, but sends nothing and no route chooses it


class ProviderAccount(models.Model):
    """One of a workspace's carrier accounts (`ca_…`). Exactly one is the primary (what
    `…/provider` shows and changes; messages from numbers of no other account go through it).
    Its secret (Twilio's Auth Token, Telnyx's API key, SMPP's password) is encrypted at rest and never shown;
    `settings` holds the carrier's non-secret settings (Telnyx: public_key, messaging_profile_id).
    A workspace may have several accounts of one carrier: the webhook URLs of all but its primary
    one of that carrier name the account (`?account=ca_…`, numbers.selectors.webhook_urls)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="carrier_accounts")
    uid = models.CharField(max_length=32, unique=True, default=IdGenerator("ca"), editable=False)
    name = models.CharField(max_length=64, blank=True)
    is_primary = models.BooleanField(default=True)
    status = models.CharField(
        max_length=10, choices=CarrierAccountStatus.choices, default=CarrierAccountStatus.ACTIVE
    )
    provider = models.CharField(max_length=20, choices=ProviderKind.choices)
    account_sid = models.CharField(max_length=64, blank=True)
    auth_token = EncryptedTextField(blank=True)
    messaging_service_sid = models.CharField(max_length=64, blank=True)
    # SMPP's settings: host, port, system_id, system_type, tls, throughput, uncertain_submits;
    # its secret (the password) is auth_token.
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-is_primary", "created_at", "pk"]  # .first() is the primary
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"], condition=models.Q(is_primary=True), name="one_primary_carrier_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} account of {self.workspace_id}"

    @property
    def auth_token_set(self) -> bool:
        return bool(self.auth_token)


class NumberType(models.TextChoices):
    LONG_CODE = "long_code", "Long code"
    TOLL_FREE = "toll_free", "Toll-free"
    SHORT_CODE = "short_code", "Short code"


class PhoneNumber(models.Model):
    id = PrefixedIdField(prefix="pn")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="phone_numbers")
    # E.164. Unique on the installation: a number belongs to at most one workspace.
    phone_number = models.CharField(max_length=16, unique=True)
    friendly_name = models.CharField(max_length=64, blank=True)
    provider_sid = models.CharField(max_length=64, blank=True)  # PN… on Twilio
    number_type = models.CharField(max_length=12, choices=NumberType.choices, default=NumberType.LONG_CODE)
    sms_enabled = models.BooleanField(default=True)
    mms_enabled = models.BooleanField(default=False)
    voice_enabled = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    # The carrier account the number belongs to; null: the workspace's primary account.
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="numbers"
    )
    # Messages per second this sender may send; null: the default for its number type.
    send_rate = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.01), MaxValueValidator(10_000)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]  # id breaks ties, so pages never overlap
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(is_default=True),
                name="one_default_number_per_workspace",
            )
        ]

    def __str__(self) -> str:
        return self.phone_number

    @property
    def capabilities(self) -> dict[str, bool]:
        return {"sms": self.sms_enabled, "mms": self.mms_enabled, "voice": self.voice_enabled}

    @property
    def effective_send_rate(self) -> float:
        return self.send_rate or default_send_rate(self.number_type)


def default_send_rate(number_type: str) -> float:
    return {
        NumberType.TOLL_FREE: settings.SEND_RATE_TOLL_FREE,
        NumberType.SHORT_CODE: settings.SEND_RATE_SHORT_CODE,
    }.get(number_type, settings.SEND_RATE_LONG_CODE)


class CarrierRoute(models.Model):
    """A routing rule: messages sent without `from` to a number starting with `prefix` go through
    `account` (from `sender`, else that account's first number); `fallback_account` takes them
    only when `account` definitely did not (refused before accepting, or unreachable)."""

    id = PrefixedIdField(prefix="rt")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="carrier_routes")
    position = models.PositiveIntegerField(default=0)  # lower first; then the longest prefix
    prefix = models.CharField(max_length=16)  # "+" and digits; "+" alone matches everything
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+")
    sender = models.ForeignKey(
        PhoneNumber, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    fallback_account = models.ForeignKey(
        ProviderAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["position", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.prefix} → {self.account_id}"


class SmppPartStatus(models.TextChoices):
    SUBMITTING = "submitting", "Submitting"  # written before submit_sm: its outcome may be unknown
    SUBMITTED = "submitted", "Submitted"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"


class SmppPart(models.Model):
    """One submit_sm of an outbound message sent over SMPP (a long message has several), with the
    SMSC's message id in the forms a receipt may spell it (numbers.providers.smpp.codec.id_forms)."""

    # No index of their own: the (account, id) indexes and the (message, index) constraint lead
    # with them, and every part written is one index entry fewer each (three with message_id's
    # pattern index).
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    index = models.PositiveSmallIntegerField()  # 1-based
    total = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=SmppPartStatus.choices)
    smsc_id = models.CharField(max_length=65, blank=True)  # as submit_sm_resp gave it
    id_exact = models.CharField(max_length=65, null=True, blank=True)
    id_as_decimal = models.CharField(max_length=80, null=True, blank=True)
    id_as_hex = models.CharField(max_length=65, null=True, blank=True)
    error_code = models.CharField(max_length=16, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    receipt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "index"], name="one_smpp_part_per_index")]
        indexes = [
            models.Index(fields=["account", "id_exact"], name="smpp_part_exact"),
            models.Index(fields=["account", "id_as_decimal"], name="smpp_part_decimal"),
            models.Index(fields=["account", "id_as_hex"], name="smpp_part_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} part {self.index}/{self.total}"


class SmppInboundPart(models.Model):
    """A part of a concatenated MO message, kept until the last part arrives."""

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=21)
    destination = models.CharField(max_length=21)
    reference = models.PositiveIntegerField()
    total = models.PositiveSmallIntegerField()
    index = models.PositiveSmallIntegerField()
    text = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "source", "destination", "reference", "total", "index"],
                name="one_smpp_inbound_part",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}→{self.destination} ref {self.reference} {self.index}/{self.total}"
