"""Event webhooks (outbound, to integrators; the carriers' inbound webhooks are webhooks.py): a
workspace's endpoints receive its message events, signed the Standard Webhooks way
(https://www.standardwebhooks.com/), retried with backoff for at least a day.

Flow: `messaging.events` publishes every message change after commit to EVENT_SINKS; our sink,
`on_platform_events`, maps it onto a webhook event type (the one place that mapping lives), stores
one WebhookDelivery per subscribed endpoint and enqueues it. A worker claims the delivery, POSTs
it and records the attempt. A failure schedules the next attempt in the row (`next_attempt_at`);
the periodic sweep enqueues due deliveries, so no retry depends on a broker countdown.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from urllib3.util import Timeout

from messaging_platform.api import credentials
from messaging_platform.errors import DomainError, invalid_params, not_found
from messaging_platform.ids import new_id
from workspaces.audit.services import audit_record
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from . import events
from .enqueue import enqueue_webhook_delivery
from .models import (
    WEBHOOK_TEST_EVENT,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from .urlsafety import UnsafeUrl, check_public_url

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = "MessagingPlatform-Webhooks/1.0"
RESPONSE_SNIPPET_BYTES = 1024

# Secret material -------------------------------------------------------------------------------


def generate_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`
    keyed with the base64-decoded secret (without its `whsec_` prefix)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode_body(payload: dict) -> str:
    # One canonical encoding, so that every attempt sends (and signs) the same bytes.
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


# Endpoints -------------------------------------------------------------------------------------


def _checked_url(url: str) -> str:
    try:
        check_public_url(url)
    except UnsafeUrl as exc:
        raise invalid_params(f"url: {exc}", {"url": [str(exc)]}) from exc
    return url


def access_webhook_endpoint(*, workspace: Workspace, endpoint_id: str) -> WebhookEndpoint:
    return in_workspace(
        WebhookEndpoint.objects, workspace=workspace, pk=endpoint_id, missing="Webhook endpoint not found."
    )


def webhook_endpoint_list(*, workspace: Workspace):
    return WebhookEndpoint.objects.for_workspace(workspace).order_by("created_at")


def webhook_delivery_list(*, endpoint: WebhookEndpoint):
    return (
        WebhookDelivery.objects.for_workspace(endpoint.workspace)
        .filter(endpoint=endpoint)
        .order_by("-created_at", "-pk")
    )


def access_webhook_delivery(*, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = webhook_delivery_list(endpoint=endpoint).filter(pk=delivery_id).first()
    if delivery is None:
        raise not_found("Delivery not found.")
    return delivery


@transaction.atomic
def webhook_endpoint_create(
    *, workspace: Workspace, url: str, events: list[str], description: str = "", created_by=None
) -> WebhookEndpoint:
    """Register an endpoint; the caller shows `endpoint.secret` once."""
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url=_checked_url(url),
        events=sorted(set(events)),
        description=description,
        secret=generate_webhook_secret(),
        created_by=created_by,
    )
    audit_record(workspace, "webhook_endpoint.created", endpoint, url=endpoint.url, events=endpoint.events)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    if url is not None:
        endpoint.url = _checked_url(url)
    if events is not None:
        endpoint.events = sorted(set(events))
    if description is not None:
        endpoint.description = description
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = is_active
        # Re-enabling starts a fresh record; disabling by hand says who did it.
        endpoint.failing_since = None
        endpoint.disabled_at = None if is_active else timezone.now()
        endpoint.disabled_reason = "" if is_active else "Disabled by a workspace admin."
    endpoint.save()
    audit_record(
        endpoint.workspace,
        "webhook_endpoint.updated",
        endpoint,
        url=endpoint.url,
        events=endpoint.events,
        description=endpoint.description,
        is_active=endpoint.is_active,
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    audit_record(endpoint.workspace, "webhook_endpoint.deleted", endpoint)
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret signs every attempt from now on, including retries of older events."""
    endpoint.secret = generate_webhook_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    audit_record(endpoint.workspace, "webhook_endpoint.secret_rotated", endpoint, secret=True)
    return endpoint


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    if not endpoint.is_active:
        raise DomainError("endpoint_disabled", "Enable the endpoint before sending it a test event.")
    data = {
        "endpoint_id": endpoint.id,
        "workspace_id": endpoint.workspace_id,
        "message": "A test event from the Messaging Platform.",
    }
    [delivery] = _create_deliveries(
        endpoint.workspace_id, [endpoint.id], event_id=new_id("evt"), event_type=WEBHOOK_TEST_EVENT, data=data
    )
    return delivery


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Try a delivery again now, whatever became of it (same event id and body, so a receiver
    that already has it can tell); its attempts so far stay in its log. Past the retry window
    of its event, a failed redelivery is not retried again."""
    if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, is_active=True).exists():
        raise DomainError("endpoint_disabled", "Enable the endpoint before redelivering to it.")
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=now, enqueued_at=now, delivered_at=None
        )
        audit_record(
            delivery.workspace,
            "webhook_endpoint.redelivered",
            delivery.endpoint,
            delivery=delivery.pk,
            event_id=delivery.event_id,
        )
        transaction.on_commit(lambda: _enqueue(delivery.pk))
    delivery.refresh_from_db()
    return delivery


# From platform events to deliveries --------------------------------------------------------------


def webhook_event_type(event: dict) -> str | None:
    """THE mapping from the platform's message events onto the webhook event types."""
    data = event.get("data") or {}
    if event.get("type") == events.MESSAGE_CREATED:
        if data.get("direction") == "inbound":
            return WebhookEventType.MESSAGE_RECEIVED
        return WebhookEventType.MESSAGE_CREATED
    if event.get("type") == events.MESSAGE_UPDATED and data.get("direction") == "outbound":
        return WebhookEventType.MESSAGE_STATUS_UPDATED
    return None


# Every published event is matched against its workspace's endpoints: two lookups per delivered
# message, so the list is kept in the cache, with the version of the endpoints it was read under.
# Any change to a workspace's endpoints moves its version after commit; the version and the list
# are read together (one round trip), and a list stored under another version than the current
# one is read again from the database. The timeout bounds how long a lost version bump could matter.
ENDPOINTS_CACHE_SECONDS = 60


def _endpoints_version_key(workspace_id: str) -> str:
    return f"webhook-endpoints-version:{workspace_id}"


def subscribed_endpoints(workspace_id: str) -> list[tuple[str, list[str]]]:
    """(id, event types) of the workspace's active endpoints."""
    if credentials.request_token() is not None:
        # In a request that knows the credentials token (a send): the per-process cache, exact
        # (a trigger changes the token with the endpoints, messaging 0018), no round trip.
        return credentials.cached("webhook-endpoints", workspace_id, lambda: _active_endpoints(workspace_id))
    version_key, list_key = _endpoints_version_key(workspace_id), f"webhook-endpoints:{workspace_id}"
    version = None
    try:
        found = cache.get_many([version_key, list_key])
        version = found.get(version_key, "0")
        cached = found.get(list_key)
        if cached is not None and cached[0] == version:
            return cached[1]
    except Exception:  # the cache is down: the database still answers
        logger.warning("Cache unavailable: webhook endpoints of %s read from the database", workspace_id)
    endpoints = _active_endpoints(workspace_id)
    if version is not None:
        with contextlib.suppress(Exception):
            cache.set(list_key, (version, endpoints), ENDPOINTS_CACHE_SECONDS)
    return endpoints


def _active_endpoints(workspace_id: str) -> list[tuple[str, list[str]]]:
    return [
        (pk, list(types))
        for pk, types in WebhookEndpoint.objects.filter(
            workspace_id=workspace_id, is_active=True
        ).values_list("id", "events")
    ]


def endpoints_changed(workspace_id: str) -> None:
    def bump() -> None:
        try:
            cache.set(_endpoints_version_key(workspace_id), new_id("v"), None)
        except Exception:
            logger.exception("Could not mark webhook endpoints of %s changed", workspace_id)

    transaction.on_commit(bump)


@receiver(
    [post_save, post_delete], sender=WebhookEndpoint, dispatch_uid="messaging.webhook_endpoints_changed"
)
def _on_endpoint_saved_or_deleted(sender, instance: WebhookEndpoint, **kwargs) -> None:
    endpoints_changed(instance.workspace_id)


def on_platform_events(workspace_id: str, platform_events: list[dict]) -> None:
    """The EVENT_SINKS entry (registered in MessagingConfig.ready), with the events published
    together (a batch publishes a thousand)."""
    active = subscribed_endpoints(workspace_id) if platform_events else []
    if not active:  # most workspaces: no need to look at each of a broadcast's thousand events
        return
    typed = [(event, webhook_event_type(event)) for event in platform_events]
    typed = [(event, event_type) for event, event_type in typed if event_type is not None]
    for event, event_type in typed:
        endpoint_ids = [pk for pk, types in active if event_type in types]
        if endpoint_ids and event_type == WebhookEventType.MESSAGE_STATUS_UPDATED:
            # A message is published again when only, say, its provider_sid changed: no new status.
            endpoint_ids = [pk for pk in endpoint_ids if not _status_already_sent(pk, event["data"])]
        if endpoint_ids:
            _create_deliveries(
                workspace_id, endpoint_ids, event_id=event["id"], event_type=event_type, data=event["data"]
            )


def _status_already_sent(endpoint_id: str, data: dict) -> bool:
    last = (
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id,
            message_id=data.get("id", ""),
            event_type=WebhookEventType.MESSAGE_STATUS_UPDATED,
        )
        .order_by("-created_at", "-pk")
        .values_list("payload", flat=True)
        .first()
    )
    return last is not None and last.get("data", {}).get("status") == data.get("status")


def _create_deliveries(
    workspace_id: str, endpoint_ids: list[str], *, event_id: str, event_type: str, data: dict
) -> list[WebhookDelivery]:
    now = timezone.now()
    payload = {
        "id": event_id,
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    message_id = data.get("id", "") if event_type.startswith("message.") else ""
    with transaction.atomic():
        deliveries = [
            WebhookDelivery.objects.create(
                workspace_id=workspace_id,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event_type,
                message_id=message_id,
                payload=payload,
                next_attempt_at=now,
                enqueued_at=now,
            )
            for endpoint_id in endpoint_ids
        ]
        transaction.on_commit(lambda: [_enqueue(d.id) for d in deliveries])
    return deliveries


def _enqueue(delivery_id: str) -> None:
    enqueue_webhook_delivery(delivery_id)


# Attempts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str
    response_body: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter after the `attempt`-th failure."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    return random.uniform(ceiling * 0.8, ceiling)  # noqa: S311 - jitter, not security


def post_signed(*, url: str, secret: str, event_id: str, body: str) -> AttemptResult:
    """One bounded POST: connect and whole-attempt timeouts, no redirects, no exception escapes."""
    started = time.monotonic()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, msg_id=event_id, timestamp=timestamp, body=body),
    }
    total = settings.WEBHOOK_TIMEOUT_SECONDS
    timeout = Timeout(connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, read=total, total=total)
    status_code, error, snippet = None, "", b""
    try:
        check_public_url(url)  # again: the name may resolve elsewhere now (DNS rebinding)
        with requests.post(
            url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            status_code = response.status_code
            deadline = started + total
            # A little of the answer helps debugging; read it without letting a trickle hold us.
            while len(snippet) < RESPONSE_SNIPPET_BYTES and time.monotonic() < deadline:
                chunk = response.raw.read1(RESPONSE_SNIPPET_BYTES - len(snippet))
                if not chunk:
                    break
                snippet += chunk
    except UnsafeUrl as exc:
        error = f"Refused: {exc}"
    except requests.Timeout:
        error = f"Timed out after {total:g}s."
    except requests.ConnectionError as exc:
        error = f"Connection failed: {_short(exc)}"
    except Exception as exc:  # anything else is still just a failed attempt
        error = f"{type(exc).__name__}: {_short(exc)}"
    if status_code is not None and not 200 <= status_code < 300 and not error:
        error = f"Answered {status_code}" + (
            " (redirects are not followed)." if 300 <= status_code < 400 else "."
        )
    return AttemptResult(
        status_code=status_code,
        error=error,
        response_body=snippet.decode(errors="replace"),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _short(exc: Exception) -> str:
    return str(exc)[:300]


def webhook_delivery_attempt(*, delivery_id: str) -> WebhookDelivery | None:
    """Claim a due delivery, POST it, record how it went. None if it was not ours to try."""
    now = timezone.now()
    # Claiming moves next_attempt_at past a lease: a duplicate task finds nothing due, and a
    # worker killed mid-attempt leaves it due again once the lease ends.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now,
    ).update(
        next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _give_up(delivery, now, "The endpoint is disabled.")
        return delivery
    result = post_signed(
        url=endpoint.url,
        secret=endpoint.secret,
        event_id=delivery.event_id,
        body=encode_body(delivery.payload),
    )
    return webhook_delivery_record(delivery=delivery, attempted_at=now, result=result)


@transaction.atomic
def webhook_delivery_record(
    *, delivery: WebhookDelivery, attempted_at: datetime, result: AttemptResult
) -> WebhookDelivery:
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=attempted_at,
        status_code=result.status_code,
        error=result.error,
        response_body=result.response_body,
        duration_ms=result.duration_ms,
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.enqueued_at = None
    endpoint = delivery.endpoint
    if result.ok:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    else:
        window = timedelta(hours=settings.WEBHOOK_RETRY_WINDOW_HOURS)
        if now - delivery.created_at >= window:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        _note_endpoint_failure(endpoint, now, result.error)
    delivery.save(
        update_fields=[
            "status",
            "delivered_at",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "enqueued_at",
        ]
    )
    return delivery


def _note_endpoint_failure(endpoint: WebhookEndpoint, now: datetime, error: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    endpoint.refresh_from_db(fields=["failing_since", "is_active"])
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    if endpoint.is_active and now - endpoint.failing_since >= timedelta(days=days):
        reason = (
            f"Disabled automatically: every delivery failed since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC ({days:g} days or more). "
            f"Last error: {error}"
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now
        )
        endpoints_changed(endpoint.workspace_id)
        for pending in WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING):
            _give_up(pending, now, "The endpoint was disabled.")
        logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason)


def _give_up(delivery: WebhookDelivery, now: datetime, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=error, enqueued_at=None
    )
    delivery.refresh_from_db()


def sweep_webhook_deliveries(*, batch: int | None = None) -> int:
    """Enqueue due deliveries (first attempts whose task was lost, and every retry)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        # Enqueued recently and not yet run: a busy queue, not a lost task. Don't pile on.
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - lease))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[: batch or settings.SWEEP_BATCH_SIZE]
    )
    if due:
        WebhookDelivery.objects.filter(pk__in=due).update(enqueued_at=now)
        for delivery_id in due:
            _enqueue(delivery_id)
    return len(due)
