"""What feeds the metrics of messaging_platform.metrics, and `/metrics` itself.

- Message counts and time to delivered: an EVENT_SINKS entry, so every status change is counted
  from the same after-commit publish that tells WebSockets and webhooks, whoever made the change.
- Webhook attempts: each stored WebhookAttempt. Celery tasks (sweeps, reconciliations, …): Celery's
  task_postrun signal. HTTP: HttpMetricsMiddleware. WebSockets: WebSocketMetricsMiddleware.
- Queue depth and the age of the oldest due message per sender class: read from PostgreSQL when
  Prometheus scrapes (QueueCollector), so they are right whichever process moved the messages.
"""

import hmac
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db.models import Case, CharField, Count, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from messaging_platform import metrics

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
CARRIER_CACHE_SECONDS = 60
# A status change counted under its own name; `accepted`/`received` count messages created.
COUNTED_STATUSES = {"sent", "delivered", "undelivered", "failed"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # others: "other"

_carriers: dict[tuple[str, str], tuple[str, float]] = {}


def _carrier_of(workspace_id: str, our_number: str) -> str:
    """The provider a message went through: the account its number (the sender of an outbound
    message, the recipient of an inbound one) belongs to, else the workspace's primary account,
    as the delivery engine chooses it. Cached for a minute per process and number."""
    from numbers.models import PhoneNumber, ProviderAccount

    key = (workspace_id, our_number or "")
    cached = _carriers.get(key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    try:
        carrier = None
        if our_number:
            carrier = (
                PhoneNumber.objects.filter(
                    workspace_id=workspace_id, phone_number=our_number, account__isnull=False
                )
                .values_list("account__provider", flat=True)
                .first()
            )
        if carrier is None:
            carrier = (
                ProviderAccount.objects.filter(workspace_id=workspace_id, is_primary=True)
                .values_list("provider", flat=True)
                .first()
            ) or "none"
    except Exception:  # never let counting break a publish (an async caller, a database blip)
        return "unknown"
    _carriers[key] = (carrier, time.monotonic() + CARRIER_CACHE_SECONDS)
    return carrier


def _our_number(data: dict) -> str:
    return (data.get("to") if data.get("direction") == "inbound" else data.get("from")) or ""


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def count_message_events(workspace_id: str, events: list[dict]) -> None:
    """The EVENT_SINKS entry: count what each published message event says happened, under the
    carrier of that message's own account (a workspace may have several). A batch's events
    are tallied first: one increment per label set, not per event (a broadcast publishes
    thousands at once)."""
    tally: Counter[tuple[str, str, str]] = Counter()
    for event in events:
        data = event.get("data") or {}
        status = data.get("status")
        if event.get("type") == "message.created":
            created = "accepted" if data.get("direction") == "outbound" else "received"
            tally[created, _carrier_of(workspace_id, _our_number(data)), ""] += 1
            if status not in COUNTED_STATUSES:
                continue
        elif event.get("type") != "message.updated" or status not in COUNTED_STATUSES:
            continue
        carrier = _carrier_of(workspace_id, _our_number(data))
        tally[status, carrier, data.get("error_code") or ""] += 1
        if status == "delivered":
            seconds = _seconds_between(data.get("created_at"), data.get("delivered_at"))
            if seconds is not None and seconds >= 0:
                metrics.TIME_TO_DELIVERED.labels(carrier).observe(seconds)
    for labels, n in tally.items():
        metrics.MESSAGES.labels(*labels).inc(n)


def count_webhook_attempt(sender, instance, created: bool, **kwargs) -> None:
    """post_save of WebhookAttempt: one attempt, delivered (2xx) or failed."""
    if created:
        ok = instance.status_code is not None and 200 <= instance.status_code < 300
        metrics.WEBHOOK_ATTEMPTS.labels("delivered" if ok else "failed").inc()


def count_task(sender=None, task=None, state=None, **kwargs) -> None:
    """Celery's task_postrun: one finished task."""
    metrics.TASKS.labels(getattr(task, "name", "unknown"), state or "unknown").inc()


# Scrape time ---------------------------------------------------------------------------------


class QueueCollector:
    """Messages waiting to be sent, per sender class, read from the messages table."""

    def collect(self):
        depth = GaugeMetricFamily(
            "mp_queue_depth",
            "Messages waiting to be sent (queued, and scheduled ones that are due)",
            labels=["sender_class"],
        )
        oldest = GaugeMetricFamily(
            "mp_queue_oldest_due_age_seconds",
            "How long the oldest due message has waited",
            labels=["sender_class"],
        )
        try:
            rows = queue_by_sender_class()
        except Exception:
            logger.exception("Could not read the queue for /metrics")
            rows = []
        for row in rows:
            depth.add_metric([row["sender_class"]], row["depth"])
            waited = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
            oldest.add_metric([row["sender_class"]], max(0.0, waited))
        yield depth
        yield oldest


def queue_by_sender_class() -> list[dict]:
    from messaging.models import Message, Status
    from numbers.models import PhoneNumber

    now = timezone.now()
    number_type = PhoneNumber.objects.filter(phone_number=OuterRef("from_number")).values("number_type")[:1]
    return list(
        Message.objects.filter(Q(status=Status.QUEUED) | Q(status=Status.SCHEDULED, scheduled_at__lte=now))
        .annotate(
            due_at=Coalesce("next_attempt_at", "scheduled_at", "created_at"),
            sender_class=Case(
                When(from_number="", then=Value("messaging_service")),
                default=Coalesce(Subquery(number_type), Value("long_code")),
                output_field=CharField(),
            ),
        )
        .values("sender_class")
        .annotate(depth=Count("pk"), oldest=Min("due_at", filter=Q(due_at__lte=now)))
        .order_by("sender_class")
    )


def scrape() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:
        registry = CollectorRegistry()
        registry.register(_Everything())
    registry.register(QueueCollector())
    return generate_latest(registry)


class _Everything:
    """This process's own metrics (no multiprocess directory: one process, `make run`)."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_response(request: HttpRequest) -> HttpResponse:
    """`/metrics` for a scraper presenting the operator token; a 404 when no token is set."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)


# Middleware ----------------------------------------------------------------------------------


class HttpMetricsMiddleware:
    """Counts and times every request by its route (the URL pattern), and serves `/metrics`
    (whatever the Host header: Prometheus scrapes each instance by its address)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == METRICS_PATH:
            return metrics_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self.observe(request, response, started)
        return response

    @staticmethod
    def observe(request: HttpRequest, response: HttpResponse, started: float) -> None:
        """Count and time a request answered (`started`: its time.perf_counter())."""
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name) if match else "unmatched"
        method = request.method if request.method in HTTP_METHODS else "other"
        metrics.HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()


class WebSocketMetricsMiddleware:
    """ASGI middleware around the WebSocket router: the open connections gauge."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        accepted = False

        async def counting_send(message):
            nonlocal accepted
            if message.get("type") == "websocket.accept" and not accepted:
                accepted = True
                metrics.WEBSOCKET_CONNECTIONS.inc()
            await send(message)

        try:
            return await self.inner(scope, receive, counting_send)
        finally:
            if accepted:
                metrics.WEBSOCKET_CONNECTIONS.dec()
