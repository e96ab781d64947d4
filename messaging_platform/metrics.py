"""The platform's Prometheus metrics (prometheus-client), defined once for every process.

With `PROMETHEUS_MULTIPROC_DIR` set (production: the same empty directory for every gunicorn
worker, daphne and Celery process of a machine, wiped before they start), each process writes its
values to files there and `/metrics` adds them up; without it (`make run`, one process) they live
in memory. Queue depths are read from PostgreSQL at scrape time (messaging.operations.metrics).

Names start with `mp_`. Labels stay few and bounded: carriers, error codes, routes (the URL
pattern, never the path), sender classes.
"""

import time

from prometheus_client import Counter, Gauge, Histogram

# Seconds: from a fast carrier answer on loopback to a slow one near the HTTP timeout.
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Seconds from acceptance to the carrier's delivery receipt: seconds to hours.
DELIVERY_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

MESSAGES = Counter(
    "mp_messages",
    "Messages by what happened to them: accepted, received, sent, delivered, "
    "undelivered, failed (status changes as published after commit)",
    ["status", "carrier", "error_code"],
)
SEND_SECONDS = Histogram(
    "mp_carrier_send_seconds",
    "Time of one send call to the carrier, answered or not",
    ["carrier"],
    buckets=SEND_BUCKETS,
)
TIME_TO_DELIVERED = Histogram(
    "mp_time_to_delivered_seconds",
    "From acceptance to the carrier's delivery receipt",
    ["carrier"],
    buckets=DELIVERY_BUCKETS,
)
WEBHOOK_ATTEMPTS = Counter("mp_webhook_attempts", "Outbound webhook attempts by outcome", ["outcome"])
WEBSOCKET_CONNECTIONS = Gauge(
    "mp_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum"
)
HTTP_REQUESTS = Counter(
    "mp_http_requests", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "mp_http_request_seconds", "HTTP request latency by route", ["method", "route"], buckets=HTTP_BUCKETS
)
PACING_WAIT = Histogram(
    "mp_pacing_wait_seconds",
    "Waits for a sender's pace: in a worker thread (sleep) or in the broker",
    ["where"],
    buckets=WAIT_BUCKETS,
)
TASKS = Counter(
    "mp_tasks", "Celery tasks finished, by task and state (sweeps, reconciliations, …)", ["task", "state"]
)


def observe_send(carrier: str, started: float) -> None:
    """One carrier send call that began at `started` (time.monotonic())."""
    SEND_SECONDS.labels(carrier or "unknown").observe(time.monotonic() - started)


def pacing_wait(where: str, seconds: float) -> None:
    if seconds > 0:
        PACING_WAIT.labels(where).observe(seconds)
