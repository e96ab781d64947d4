from django.conf import settings
from django.db import models
from django.utils import timezone

from messaging_platform.crypto import EncryptedTextField
from messaging_platform.ids import PrefixedIdField
from workspaces.models import TenantQuerySet, Workspace


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Status(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    RECEIVED = "received", "Received"


FINAL_STATUSES = frozenset(
    {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELED, Status.RECEIVED}
)


class Conversation(models.Model):
    """One thread per (our number, the contact's number) in a workspace."""

    id = PrefixedIdField(prefix="conv")
    # Indexed by the unique constraint and conv_ws_recent, which start with it.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    # Our side: an E.164 number, or a Messaging Service sid when the carrier picks the sender.
    our_number = models.CharField(max_length=64)
    contact_number = models.CharField(max_length=16)
    last_message = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "our_number", "contact_number"], name="one_conversation_per_pair"
            )
        ]
        indexes = [models.Index(fields=["workspace", "-last_message_at"], name="conv_ws_recent")]

    def __str__(self) -> str:
        return f"{self.our_number} ↔ {self.contact_number}"


class Message(models.Model):
    id = PrefixedIdField(prefix="msg")
    # No index of their own for workspace, conversation and broadcast (and none of the _like
    # twins Django adds to a text key): the composite indexes below start with each, and every
    # index costs every insert (a broadcast inserts 100,000 rows).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=12, choices=Status.choices)
    to_number = models.CharField(max_length=16)
    from_number = models.CharField(max_length=16, blank=True)
    messaging_service_sid = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    num_segments = models.PositiveSmallIntegerField(default=1)
    encoding = models.CharField(max_length=5, default="GSM-7")
    # Unique where set (Meta.constraints): a message not yet handed to a carrier has none.
    provider_sid = models.CharField(max_length=64, null=True, blank=True)
    status_callback = models.URLField(max_length=2000, blank=True)
    error_code = models.CharField(max_length=64, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
        db_constraint=False,  # see `broadcast` below
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Set by the caller where it must match another row's time (a conversation's last_message_at).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Delivery bookkeeping: how often we tried, when a worker claimed it, when to try again.
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Asking the carrier about a message whose outcome we may have missed (reconciliation): when we
    # last asked, and not before when we ask again.
    carrier_checked_at = models.DateTimeField(null=True, blank=True)
    carrier_check_after = models.DateTimeField(null=True, blank=True)
    # The id of the request that accepted it, so that the log lines of its delivery (made in
    # batches, away from the request) carry it too.
    request_id = models.CharField(max_length=64, blank=True, default="")
    # A message still not sent by then ends `failed` with `expired` (validity_period).
    expires_at = models.DateTimeField(null=True, blank=True)
    # Not checked by the database (db_constraint=False) for the conversation, the broadcast, the
    # API key and the sender: each check cost every stored message a lookup and a lock of the row
    # it names, at commit. A conversation, a broadcast or an API key goes only with its workspace
    # (keys are revoked, never deleted), and the workspace's own check stays: a message stored
    # while its workspace goes fails that check, so none outlives it. A user's deletion (only an
    # operator's, in the admin) clears `sent_by` as Django does for every SET_NULL. The carrier
    # accounts keep theirs: one is removed on its own (numbers.services.carrier_account_remove),
    # and a message must never be routed to an account that is gone.
    broadcast = models.ForeignKey(
        "Broadcast",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    # Who sent it: read by nothing but the deletion of a key or user (Meta.indexes: of the
    # messages that have one).
    api_key = models.ForeignKey(
        "workspaces.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The carrier account it goes through, chosen when it was accepted (numbers.routing); null:
    # its sender number's account, else the workspace's primary one. `fallback_account` takes it
    # over when that account definitely did not take it (a route's fallback; cleared once used).
    # No full index (db_index=False): most messages name neither account, so Meta.indexes holds
    # only those that do; removing an account reads them there, for its SET_NULL and for the
    # database's check of the constraint, instead of scanning every message.
    carrier_account = models.ForeignKey(
        "numbers.ProviderAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    fallback_account = models.ForeignKey(
        "numbers.ProviderAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            # One per list filter, each ending in the list's order (newest first).
            # A direction filter's list: inbound messages by their own index (they are rarely the
            # most of a workspace's, and written once: received), outbound ones by msg_ws_created
            # (usually most of them; each of their status changes would write an entry more).
            models.Index(fields=["workspace", "-created_at"], name="msg_ws_created"),
            models.Index(fields=["workspace", "status", "-created_at"], name="msg_ws_status"),
            models.Index(
                fields=["workspace", "-created_at"],
                name="msg_ws_inbound",
                condition=models.Q(direction="inbound"),
            ),
            models.Index(fields=["workspace", "to_number", "-created_at"], name="msg_ws_to"),
            models.Index(fields=["workspace", "from_number", "-created_at"], name="msg_ws_from"),
            models.Index(fields=["conversation", "-created_at"], name="msg_conversation"),
            # A contact's side of `from`/`to` (our numbers' side is counted: messaging.list_counts),
            # so that counting it reads only its own entries, never our number's millions.
            models.Index(
                fields=["workspace", "from_number", "created_at"],
                name="msg_ws_contact_from",
                condition=models.Q(direction="inbound"),
            ),
            models.Index(
                fields=["workspace", "to_number", "created_at"],
                name="msg_ws_contact_to",
                condition=models.Q(direction="outbound"),
            ),
            models.Index(fields=["workspace", "updated_at"], name="msg_ws_updated"),
            # The claim takes the oldest queued messages first (messages_claim_due).
            models.Index(
                fields=["created_at"], name="msg_queued_created", condition=models.Q(status="queued")
            ),
            # `search` has trigram GIN indexes on UPPER(body) (of the messages not in flight) and
            # the contacts' UPPER(name), made on PostgreSQL only by migrations 0013 and 0019 (not in
            # the models' state: SQLite has none).
            # The sweeps look for work left behind: stale queued/sending, due scheduled.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="msg_status_due",
                condition=models.Q(status__in=["queued", "sending", "scheduled"]),
            ),
            # Reconciliation looks for messages left `sent` for a while.
            models.Index(fields=["updated_at"], name="msg_sent_updated", condition=models.Q(status="sent")),
            models.Index(
                fields=["broadcast", "status"],
                name="msg_broadcast_status",
                condition=models.Q(broadcast__isnull=False),
            ),
            models.Index(
                fields=["expires_at"],
                name="msg_unsent_expiry",
                condition=models.Q(status__in=["queued", "scheduled"], expires_at__isnull=False),
            ),
            # Deleting an API key or a user clears it from its messages (SET_NULL) through these.
            models.Index(fields=["api_key"], name="msg_api_key", condition=models.Q(api_key__isnull=False)),
            models.Index(fields=["sent_by"], name="msg_sent_by", condition=models.Q(sent_by__isnull=False)),
            # Removing a carrier account does the same, and its constraint is checked, through these.
            models.Index(
                fields=["carrier_account"],
                name="msg_carrier_account",
                condition=models.Q(carrier_account__isnull=False),
            ),
            models.Index(
                fields=["fallback_account"],
                name="msg_fallback_account",
                condition=models.Q(fallback_account__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_sid"],
                name="msg_provider_sid",
                condition=models.Q(provider_sid__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def from_number_or_none(self) -> str | None:
        return self.from_number or None


class MessageEvent(models.Model):
    """The history of a message: each status it took, and why."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=Status.choices)
    error_code = models.CharField(max_length=64, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    source = models.CharField(max_length=16)  # api, worker, carrier, operator, sweep, failover
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.status}"


class CarrierEventKind(models.TextChoices):
    INBOUND = "inbound", "Inbound message"
    STATUS = "status", "Status callback"


class CarrierEvent(models.Model):
    """A carrier webhook exactly as received, stored before it is processed.

    `dedupe_key` makes a carrier's retry of the same event a no-op.
    """

    id = PrefixedIdField(prefix="cev")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20)
    kind = models.CharField(max_length=8, choices=CarrierEventKind.choices)
    dedupe_key = models.CharField(max_length=200)
    provider_sid = models.CharField(max_length=64, blank=True, db_index=True)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="carrier_events"
    )
    params = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # An event that failed to apply (an unexpected error) is tried again after a backoff, and set
    # aside (dead-lettered) after CARRIER_EVENT_MAX_ATTEMPTS, for an operator to look at.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "dedupe_key"], name="one_carrier_event_per_key"
            )
        ]
        indexes = [
            # The events a runner may take: dead-lettered ones leave it, or every intake would
            # walk past all of them, the oldest, first.
            models.Index(
                fields=["received_at"],
                name="cev_due",
                condition=models.Q(processed_at__isnull=True, dead_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dedupe_key}"


class OptOut(models.Model):
    """A contact who asked this workspace to stop messaging them."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="opt_outs")
    phone_number = models.CharField(max_length=16)
    keyword = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "phone_number"], name="one_opt_out_per_number")
        ]

    def __str__(self) -> str:
        return self.phone_number


class ConsentAction(models.TextChoices):
    OPT_OUT = "opt_out", "Opted out"
    OPT_IN = "opt_in", "Opted in"
    HELP = "help", "Asked for help"


class ConsentEvent(models.Model):
    """The audit trail of every consent keyword a contact sent."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    phone_number = models.CharField(max_length=16)
    action = models.CharField(max_length=8, choices=ConsentAction.choices)
    keyword = models.CharField(max_length=20)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "phone_number"], name="consent_ws_number")]

    def __str__(self) -> str:
        return f"{self.phone_number} {self.action} ({self.keyword})"


# Event webhooks (messaging/event_webhooks.py) ---------------------------------------------------


class WebhookEventType(models.TextChoices):
    MESSAGE_RECEIVED = "message.received", "An inbound message arrived"
    MESSAGE_STATUS_UPDATED = "message.status_updated", "An outbound message changed status"
    MESSAGE_CREATED = "message.created", "An outbound message was accepted"
    # Raised and cleared by the workspace's alert rules (messaging.operations.alerts).
    ALERT_DELIVERY_RATE_DROPPED = "alert.delivery_rate_dropped", "The delivery rate fell under a threshold"
    ALERT_CARRIER_ERRORS = "alert.carrier_errors", "A carrier error code spiked"
    ALERT_QUEUE_BACKLOG = "alert.queue_backlog", "Sends waited longer than a bound"


WEBHOOK_TEST_EVENT = "webhook.test"  # sent on request only, never subscribed to


class WebhookEndpoint(models.Model):
    """A URL of an integrator's that receives the workspace's events, signed with its secret."""

    id = PrefixedIdField(prefix="whk")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)  # WebhookEventType values
    # `whsec_` + base64 of random bytes (Standard Webhooks); shown on creation and rotation only.
    secret = EncryptedTextField()
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one endpoint, retried until it succeeds or its retry window ends.

    `event_id` is the same on every attempt (the `webhook-id` header), so receivers can dedupe.
    """

    id = PrefixedIdField(prefix="whd")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    message_id = models.CharField(max_length=32, blank=True, db_index=True)
    payload = models.JSONField()  # the body: {"id", "type", "timestamp", "data"}
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a task for it was last put on the queue: the sweep does not pile on a busy queue.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_delivery_per_event"),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="whd_endpoint_recent"),
            models.Index(
                fields=["next_attempt_at"], name="whd_pending_due", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery, as it went."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True)  # the first bytes, for debugging
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attempted_at", "pk"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"


# Contacts and templates (messaging/contacts.py, messaging/templating.py) ------------------------


class Contact(models.Model):
    """A person the workspace messages: one per phone number, with a name, free fields and tags.
    Whether they opted out is the workspace's OptOut list, not a copy here."""

    id = PrefixedIdField(prefix="ct")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    phone_number = models.CharField(max_length=16)
    name = models.CharField(max_length=200, blank=True)
    fields = models.JSONField(default=dict, blank=True)  # {"city": "Paris"}: strings only
    tags = models.JSONField(default=list, blank=True)  # lowercase words, sorted
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "phone_number"], name="one_contact_per_number"),
        ]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="contact_ws_created")]

    def __str__(self) -> str:
        return self.name or self.phone_number


class ImportStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ContactImport(models.Model):
    """A CSV of contacts being applied by a worker, row by row, with its progress and errors.

    The upload is kept in the database in chunks (ContactImportChunk), so a worker on another
    machine reads it as a stream, and a worker that dies resumes after the last applied row."""

    id = PrefixedIdField(prefix="imp")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    filename = models.CharField(max_length=200, blank=True)
    total_rows = models.PositiveIntegerField(default=0)  # data rows in the file (lines less the header)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # the first ones: {"row", "phone_number", "error"}
    failure = models.TextField(blank=True)  # why the whole import failed (a bad header, say)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return self.id


class ContactImportChunk(models.Model):
    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_import", "seq"], name="one_chunk_per_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_import_id} #{self.seq}"


class MessageTemplate(models.Model):
    """A message body with `{{variables}}`, rendered per contact (messaging/templating.py)."""

    id = PrefixedIdField(prefix="tpl")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"


class Broadcast(models.Model):
    """One message to many contacts, rendered per contact (messaging/broadcasts/).

    Workers make its messages in slices of the audience (BroadcastSlice), each in batches in
    contact id order, so a worker that dies resumes after the last batch it committed, making no
    message twice."""

    id = PrefixedIdField(prefix="bc")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="broadcasts")
    name = models.CharField(max_length=200)
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()  # the template's body as it was when the broadcast was made
    audience = models.JSONField()  # {"tags": [...]} | {"contact_ids": [...]} | {"all": true}
    from_number = models.CharField(max_length=16, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    quiet_hours = models.JSONField(null=True, blank=True)  # {"start": "21:00", "end": "08:00"}
    validity_period = models.PositiveIntegerField(null=True, blank=True)  # seconds
    status = models.CharField(max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT)
    generated = models.BooleanField(default=False)  # every contact of the audience was done
    total = models.PositiveIntegerField(default=0)  # contacts in the audience when it started
    skipped_opted_out = models.PositiveIntegerField(default=0)
    skipped_invalid = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)  # the first few: {"contact_id", "reason"}
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="bc_ws_created"),
            models.Index(
                fields=["status", "scheduled_at"],
                name="bc_pending",
                condition=models.Q(status__in=["scheduled", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BroadcastSlice(models.Model):
    """A range of a broadcast's audience in contact id order (after `after`, up to and including
    `last`; open-ended when empty), made into messages by one worker at a time, batch after
    batch: `cursor` is the last contact done. Slices let several workers make one broadcast."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="slices")
    seq = models.PositiveIntegerField()
    after = models.CharField(max_length=32, blank=True)
    last = models.CharField(max_length=32, blank=True)
    cursor = models.CharField(max_length=32, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "seq"], name="one_slice_per_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id} #{self.seq}"


class ListCount(models.Model):
    """How many messages, conversations and contacts a workspace's lists hold, by UTC day of
    creation (and for messages by direction and status): the lists' exact `totalItems` without
    counting millions of rows. Kept by database triggers in the transaction of every change
    (messaging.list_counts), in slots as the dashboard's counts are; a reader sums the rows."""

    # No foreign key: the rows go with their workspace by a trigger, after its messages went.
    workspace_id = models.CharField(max_length=32)
    # "message", "number" (messages by our number: an outbound's sender, an inbound's recipient),
    # "conversation", "contact"
    kind = models.CharField(max_length=12)
    day = models.DateField()
    direction = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=16, blank=True)
    number = models.CharField(max_length=64, blank=True)
    slot = models.PositiveSmallIntegerField(default=0)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace_id", "kind", "day", "direction", "status", "number", "slot"],
                name="one_list_count_per_key",
            ),
        ]

    def __str__(self) -> str:
        key = " ".join(filter(None, (self.kind, str(self.day), self.direction, self.status, self.number)))
        return f"{self.workspace_id} {key}: {self.n}"
