"""Settings for the Messaging Platform, read from the environment.

Without DATABASE_URL and REDIS_URL the platform runs on the embedded default: SQLite, the
local-memory cache, the in-memory channel layer and Celery tasks run in-process. With them it runs
in its production shape. Every variable is listed in README.md.
"""

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

# One or more comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set when DEBUG is off.")
    # Development only: a key derived from SECRET_KEY, so `make run` needs no set-up.
    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Where carriers and webhook receivers reach this installation (status callbacks, inbound webhooks).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "channels",
    "csp",
    "messaging_platform.api",
    "accounts",
    "workspaces",
    "numbers",
    "messaging",
    "workspaces.audit",
    "messaging.operations",
    "messaging.insights",
    "messaging.media_store",
    "messaging.twilio_api",
]

MIDDLEWARE = [
    # Counts and times every request; serves /metrics (whatever the Host header).
    "messaging.operations.metrics.HttpMetricsMiddleware",
    "messaging.operations.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /healthz, whatever the Host header (a load balancer probes by IP); before host validation.
    "messaging_platform.health.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "messaging_platform.api.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "workspaces.audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "messaging_platform.urls"
WSGI_APPLICATION = "messaging_platform.wsgi.application"
ASGI_APPLICATION = "messaging_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite unless DATABASE_URL is set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL"):
    # Under ASGI (daphne) a pool beats persistent connections, which fail under load.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN", 2),
        "max_size": env_int("DATABASE_POOL_MAX", 10),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_TRANSACTION_POOLING"
):
    # Behind PgBouncer in transaction mode (docs/scaling.md): the next transaction may run on
    # another server connection, so no statements prepared on the server and no named cursors.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the in-process worker and requests read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: cache, Celery broker and channel layer when REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL")
CHANNEL_LAYER_URL = env_str("CHANNEL_LAYER_URL", REDIS_URL)  # another Redis, if you like
REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 2.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "mp"),
            # An unreachable Redis answers a 503 in seconds rather than hanging the request.
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
    # Redis pub/sub: one PUBLISH per event and workspace, fanned out inside each daphne process to
    # its own sockets. At most once, nothing queued in Redis: a client that missed events (a Redis
    # blip, a reconnect) re-syncs with `catch_up` (docs/events.md). The list-based
    # RedisChannelLayer blocks in BRPOP for 5 s, longer than socket_timeout: the consumer holding
    # the receive lock died every 2 s while idle and its client silently got nothing more; it also
    # cost daphne about twice the CPU per frame in bench/ws.py.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # Publishing is best-effort: a dead channel layer must not stall a send for long.
                "hosts": [
                    {
                        "address": CHANNEL_LAYER_URL,
                        "socket_connect_timeout": REDIS_TIMEOUT,
                        "socket_timeout": REDIS_TIMEOUT,
                    }
                ],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "mp-channels"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Embedded default: tasks run in-process, right after the commit that enqueued them.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
# A task is acknowledged only once it finished, so a worker killed mid-task loses nothing.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
# Delivery waits on the carrier's HTTP answer, not on the CPU: a pool of threads per worker process
# keeps many sends in flight (2 prefork processes and a 200 ms carrier would cap at 10 msgs/s).
# Each thread has its own database connection and Twilio HTTP session.
CELERY_WORKER_POOL = env_str("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 32)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below (JSON lines, request ids), not Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
# Publishing a task must not hang a request when the broker is down: the sweep recovers.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 15)
RECONCILE_INTERVAL_SECONDS = env_float("RECONCILE_INTERVAL_SECONDS", 60.0)  # see RECONCILE_AFTER_SECONDS
# The delivery engine (messaging/dispatch/): messages claimed per round, how far ahead a round
# takes pacing slots, runners at a time across all workers, how long a runner task runs rounds,
# how long it pauses after a short round (so that under a trickle a round gathers more), how long
# it waits for the next message (accepted or coming due) before it ends, its Redis lease, and beat's
# tick (the backstop for lost wake-ups). Providers whose sends a bind process of their own makes
# are left out of Celery's rounds.
DISPATCH_BATCH_SIZE = env_int("DISPATCH_BATCH_SIZE", 500)
DISPATCH_PACING_HORIZON_SECONDS = env_float("DISPATCH_PACING_HORIZON_SECONDS", 1.0)
DISPATCH_RUNNERS = env_int("DISPATCH_RUNNERS", 4)
# Runners in one worker process at most: a process runs Python on one core at a time, so the
# runners beyond two there add no CPU, while another process may have a core free. A wake-up that
# finds its process full is passed on (DISPATCH_WAKE_HOPS times at most) for another to take.
DISPATCH_RUNNERS_PER_PROCESS = env_int("DISPATCH_RUNNERS_PER_PROCESS", 2)
DISPATCH_WAKE_HOPS = env_int("DISPATCH_WAKE_HOPS", 4)
DISPATCH_RUN_SECONDS = env_float("DISPATCH_RUN_SECONDS", 30.0)
DISPATCH_IDLE_SECONDS = env_float("DISPATCH_IDLE_SECONDS", 0.5)
DISPATCH_LINGER_SECONDS = env_float("DISPATCH_LINGER_SECONDS", 0.02)
DISPATCH_RUNNER_LEASE_SECONDS = env_float("DISPATCH_RUNNER_LEASE_SECONDS", 60.0)
DISPATCH_WAKE_PENDING_MS = env_int("DISPATCH_WAKE_PENDING_MS", 2000)
# How long a process trusts having seen the wake-up's pending key held (no SET NX meanwhile); a
# stopping runner waits as long before its last look at the table (messaging/wakeup.py). 0: off.
DISPATCH_WAKE_MEMO_MS = env_int("DISPATCH_WAKE_MEMO_MS", 100)
DISPATCH_WRITE_ATTEMPTS = env_int("DISPATCH_WRITE_ATTEMPTS", 5)
DISPATCH_TICK_SECONDS = env_float("DISPATCH_TICK_SECONDS", 2.0)
DISPATCH_OWN_PROCESS_PROVIDERS = [
    p.strip() for p in env_str("DISPATCH_OWN_PROCESS_PROVIDERS", "smpp").split(",") if p.strip()
]
# Beat's tick wakes a runner for stored events that none took (one killed while it held the wake-up).
CARRIER_EVENT_TICK_SECONDS = env_float("CARRIER_EVENT_TICK_SECONDS", 5.0)
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "messaging.tasks.sweep", "schedule": SWEEP_INTERVAL_SECONDS},
    "dispatch-tick": {
        "task": "messaging.tasks.dispatch",
        "schedule": DISPATCH_TICK_SECONDS,
        "kwargs": {"tick": True},
        "options": {"expires": DISPATCH_TICK_SECONDS},
    },
    "reconcile": {"task": "messaging.tasks.reconcile", "schedule": RECONCILE_INTERVAL_SECONDS},
    # Stored carrier events that no runner took (messaging/carrier_events.py: the tick).
    "carrier-events-tick": {
        "task": "messaging.tasks.tick_carrier_events",
        "schedule": CARRIER_EVENT_TICK_SECONDS,
        "options": {"expires": CARRIER_EVENT_TICK_SECONDS},
    },
    # Carrier webhooks kept in Redis while PostgreSQL was down (messaging/carrier_intake.py).
    "drain-carrier-intake": {
        "task": "messaging.tasks.drain_carrier_intake",
        "schedule": env_float("CARRIER_INTAKE_DRAIN_SECONDS", 2.0),
    },
    "purge-idempotency-records": {"task": "messaging.tasks.purge_idempotency_records", "schedule": 3600},
    # The lists' counters of past days, one row per key instead of one per slot (list_counts.py).
    "compact-list-counts": {"task": "messaging.tasks.compact_list_counts", "schedule": 3600},
    # Message bodies and media past their workspace's retention are redacted (docs/deploy.md).
    "retention": {
        "task": "messaging.operations.tasks.apply_retention",
        "schedule": env_float("RETENTION_INTERVAL_SECONDS", 3600.0),
    },
    "alerts": {
        "task": "messaging.operations.tasks.evaluate_alerts",
        "schedule": env_float("ALERT_INTERVAL_SECONDS", 60.0),
    },
    # Outbound webhooks wait in the database for their next attempt; this enqueues the due ones.
    "webhook-deliveries": {
        "task": "messaging.tasks.sweep_webhook_deliveries",
        "schedule": env_float("WEBHOOK_SWEEP_INTERVAL_SECONDS", 10.0),
    },
    # Twilio-style status callbacks and SmsUrl posts waiting for a retry.
    "twilio-callbacks": {
        "task": "messaging.twilio_api.tasks.sweep_callbacks",
        "schedule": env_float("WEBHOOK_SWEEP_INTERVAL_SECONDS", 10.0),
    },
    # Parts of SMPP MO messages whose other parts never came (numbers.providers.smpp.binds).
    "smpp-inbound-parts": {"task": "numbers.tasks.smpp_expire_inbound_parts", "schedule": 60.0},
    # The dashboard's counts of finished hours, their slots folded into one row each.
    "insights-rollup": {
        "task": "messaging.insights.tasks.rollup_insights",
        "schedule": env_float("INSIGHTS_ROLLUP_INTERVAL_SECONDS", 300.0),
    },
}
INSIGHTS_ROLLUP_BATCH_SIZE = env_int("INSIGHTS_ROLLUP_BATCH_SIZE", 5000)  # rows per transaction
# With tasks eager there is no beat process: the ASGI server runs the schedule in a thread.
EMBEDDED_BEAT = env_bool("EMBEDDED_BEAT", CELERY_TASK_ALWAYS_EAGER)

RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 500)  # messages per short transaction

# Delivery: retries of transient carrier errors, and when the sweep steps in.
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 8)
SEND_RETRY_BASE_SECONDS = env_float("SEND_RETRY_BASE_SECONDS", 2.0)
SEND_RETRY_MAX_SECONDS = env_float("SEND_RETRY_MAX_SECONDS", 300.0)
SEND_LEASE_SECONDS = env_int("SEND_LEASE_SECONDS", 120)
QUEUED_STALE_SECONDS = env_int("QUEUED_STALE_SECONDS", 60)
SWEEP_BATCH_SIZE = env_int("SWEEP_BATCH_SIZE", 1000)
# Broadcasts: contacts made into messages per transaction; the audience is cut into slices of
# BROADCAST_SLICE_CONTACTS that up to BROADCAST_WORKERS workers make side by side; how long a
# broadcast may make no progress before the sweep has another worker resume it.
BROADCAST_BATCH_CONTACTS = env_int("BROADCAST_BATCH_CONTACTS", 5000)
BROADCAST_SLICE_CONTACTS = env_int("BROADCAST_SLICE_CONTACTS", 5000)
BROADCAST_WORKERS = env_int("BROADCAST_WORKERS", 2)
BROADCAST_STALL_SECONDS = env_int("BROADCAST_STALL_SECONDS", 60)
# While a broadcast is being made, delivery runs on at most this many of DISPATCH_RUNNERS runners
# (messaging/broadcasts/delivery_hold.py), the hold lasting BROADCAST_HOLD_SECONDS past a worker's
# last batch if the worker stops.
BROADCAST_DELIVERY_RUNNERS = env_int("BROADCAST_DELIVERY_RUNNERS", 1)
BROADCAST_HOLD_SECONDS = env_int("BROADCAST_HOLD_SECONDS", 30)
# Reconciliation: a message left `sent` this long (its receipt may have hit us while we were down;
# carriers do not retry) is fetched from the carrier, then again after a wait as long as its age,
# until it is older than the cutoff. At most a batch per run.
RECONCILE_AFTER_SECONDS = env_int("RECONCILE_AFTER_SECONDS", 600)
RECONCILE_CUTOFF_SECONDS = env_int("RECONCILE_CUTOFF_SECONDS", 3 * 86400)
RECONCILE_BATCH_SIZE = env_int("RECONCILE_BATCH_SIZE", 100)
# Stored carrier events are applied in batches of this many; one that fails to apply is tried
# again after a backoff (doubling from the base, up to the max) and dead-lettered after the last.
CARRIER_EVENT_BATCH_SIZE = env_int("CARRIER_EVENT_BATCH_SIZE", 500)
CARRIER_EVENT_MAX_ATTEMPTS = env_int("CARRIER_EVENT_MAX_ATTEMPTS", 8)
CARRIER_EVENT_RETRY_BASE_SECONDS = env_float("CARRIER_EVENT_RETRY_BASE_SECONDS", 30.0)
CARRIER_EVENT_RETRY_MAX_SECONDS = env_float("CARRIER_EVENT_RETRY_MAX_SECONDS", 3600.0)
# The runners that apply them (messaging.carrier_events.carrier_events_run): how many at once, in
# all and per worker process; the pause after a short batch, in which the next one gathers; how
# long one waits for more before it stops, and runs at most; its Redis lease; how long a wake-up
# stays pending (a lost one costs at most this). CARRIER_EVENT_TICK_SECONDS is with the schedule.
CARRIER_EVENT_RUNNERS = env_int("CARRIER_EVENT_RUNNERS", 2)
CARRIER_EVENT_RUNNERS_PER_PROCESS = env_int("CARRIER_EVENT_RUNNERS_PER_PROCESS", 1)
CARRIER_EVENT_LINGER_SECONDS = env_float("CARRIER_EVENT_LINGER_SECONDS", 0.05)
CARRIER_EVENT_IDLE_SECONDS = env_float("CARRIER_EVENT_IDLE_SECONDS", 1.0)
CARRIER_EVENT_RUN_SECONDS = env_float("CARRIER_EVENT_RUN_SECONDS", 30.0)
CARRIER_EVENT_RUNNER_LEASE_SECONDS = env_float("CARRIER_EVENT_RUNNER_LEASE_SECONDS", 10.0)
CARRIER_EVENT_WAKE_PENDING_MS = env_int("CARRIER_EVENT_WAKE_PENDING_MS", 2000)
# As DISPATCH_WAKE_MEMO_MS, for the wake-ups of the carrier events' runners. 0: off.
CARRIER_EVENT_WAKE_MEMO_MS = env_int("CARRIER_EVENT_WAKE_MEMO_MS", 100)
# An abandoned `sending` message is looked up at the carrier before it is sent again: messages the
# carrier created up to this long before our claim still count (clocks differ; dates are in seconds).
CARRIER_CLOCK_SKEW_SECONDS = env_int("CARRIER_CLOCK_SKEW_SECONDS", 30)

# Outbound webhooks (docs/events.md). Plain http and private addresses are for development only.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", DEBUG)
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5.0)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)  # the whole attempt
# Message media copied to our own store (media_store): the largest file kept (carriers cap MMS at 5 MB).
MEDIA_MAX_BYTES = env_int("MEDIA_MAX_BYTES", 5 * 1024 * 1024)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 30.0)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 4 * 3600.0)
# A failing delivery is retried until at least this long after the event, then given up.
WEBHOOK_RETRY_WINDOW_HOURS = env_float("WEBHOOK_RETRY_WINDOW_HOURS", 24.0)
WEBHOOK_DISABLE_AFTER_DAYS = env_float("WEBHOOK_DISABLE_AFTER_DAYS", 5.0)
# A claimed attempt that did not report back by then (a killed worker) is tried again.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
# Twilio-style status callbacks and SmsUrl posts (messaging/twilio_api): attempts before giving up,
# spaced like the webhooks' retries.
TWILIO_CALLBACK_MAX_ATTEMPTS = env_int("TWILIO_CALLBACK_MAX_ATTEMPTS", 6)

# Prometheus metrics at /metrics, for a scraper sending `Authorization: Bearer <METRICS_TOKEN>`;
# without a token /metrics is a 404. Processes report together through PROMETHEUS_MULTIPROC_DIR
# (read by prometheus-client itself; docs/deploy.md).
METRICS_TOKEN = env_str("METRICS_TOKEN")

# WebSocket: how many messages one catch_up frame answers with at most.
WEBSOCKET_CATCH_UP_LIMIT = env_int("WEBSOCKET_CATCH_UP_LIMIT", 500)

# Per-sender pacing: messages per second a sender may send, unless its number sets its own
# `send_rate`. Carriers queue or refuse (429) beyond these. Shared across worker processes in
# Redis; off without Redis (the embedded default sends through the simulator, which has no limit).
SEND_PACING = env_bool("SEND_PACING", bool(REDIS_URL))
SEND_RATE_LONG_CODE = env_float("SEND_RATE_LONG_CODE", 1.0)
SEND_RATE_TOLL_FREE = env_float("SEND_RATE_TOLL_FREE", 3.0)
SEND_RATE_SHORT_CODE = env_float("SEND_RATE_SHORT_CODE", 100.0)
SEND_RATE_MESSAGING_SERVICE = env_float("SEND_RATE_MESSAGING_SERVICE", 10.0)
# How much later than its turn a send may reach the carrier (the HTTP call's own jitter). Added to
# the interval only where the carrier's bucket (burst max(1, rate)) cannot absorb it: at 1/s it
# costs rate x margin (1.5%), so keep it under 20 ms for the 2% target; from about 1.02/s it
# costs nothing. The delivery engine takes such a sender's turn right before the HTTP write, in
# the same step of its event loop, so the jitter left is the network's. See messaging/pacing.py.
SEND_PACING_MARGIN_SECONDS = env_float("SEND_PACING_MARGIN_SECONDS", 0.015)
# A sender whose next turn is further away than this (and than one spacing) has run far behind: its
# messages go back to the table for their turns rather than hold the delivery round.
SEND_PACING_SLEEP_MAX_SECONDS = env_float("SEND_PACING_SLEEP_MAX_SECONDS", 0.2)

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic (a production build step) writes hashed, compressed files and their manifest;
# without one (make run, tests) files are served straight from static/.
_STATIC_MANIFEST = (STATIC_ROOT / "staticfiles.json").exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not _STATIC_MANIFEST

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Messaging Platform <noreply@localhost>")

# Behind a TLS-terminating proxy.
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# On with HSTS in production, so that `check --deploy` is clean; the header only allows a submission
# to the browsers' preload list, which the domain's owner makes (or not) at hstspreload.org.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Our pages load scripts and styles from our own static files only: no inline code, so an injected
# <script> does not run. Swagger (an inline bootstrap) and the staff-only admin (inline styles) are
# exempt.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/", "/admin/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # the same-origin WebSocket too (CSP level 3)
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Carriers. The Twilio REST base URL can point at a Twilio-compatible API or the fake carrier of the
# test suite (messaging_platform.testing.fake_twilio); the simulator walks messages through their
# statuses one delay apart (0 = at once, in the committing thread).
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
# Must stay well below SEND_LEASE_SECONDS: a send still waiting on Twilio when the lease runs out
# looks abandoned to the sweep (messaging.checks warns when the lease is under twice this).
TWILIO_HTTP_TIMEOUT = env_float("TWILIO_HTTP_TIMEOUT", 10.0)
# Keep-alive connections per carrier account and worker process for the delivery engine's sends.
TWILIO_MAX_CONNECTIONS = env_int("TWILIO_MAX_CONNECTIONS", 100)
# Telnyx's Messages API v2 (numbers/providers/telnyx.py); another base URL for a fake or a proxy.
TELNYX_API_BASE_URL = env_str("TELNYX_API_BASE_URL", "https://api.telnyx.com").rstrip("/")
TELNYX_HTTP_TIMEOUT = env_float("TELNYX_HTTP_TIMEOUT", 10.0)
SIMULATOR_DELAY_SECONDS = env_float("SIMULATOR_DELAY_SECONDS", 1.0)

# SMPP binds (numbers.providers.smpp, docs/carriers.md). They live in `manage.py smpp_binds` (the
# Procfile's smpp line), or in a thread of the server process under the embedded default.
SMPP_BINDS_IN_PROCESS = env_bool("SMPP_BINDS_IN_PROCESS", CELERY_TASK_ALWAYS_EAGER)
SMPP_WINDOW = env_int("SMPP_WINDOW", 10)  # outstanding submit_sm per bind (an account may set its own)
SMPP_ENQUIRE_LINK_SECONDS = env_float("SMPP_ENQUIRE_LINK_SECONDS", 30.0)
SMPP_RESPONSE_TIMEOUT_SECONDS = env_float("SMPP_RESPONSE_TIMEOUT_SECONDS", 10.0)
SMPP_CONNECT_TIMEOUT_SECONDS = env_float("SMPP_CONNECT_TIMEOUT_SECONDS", 10.0)
SMPP_RECONNECT_MIN_SECONDS = env_float("SMPP_RECONNECT_MIN_SECONDS", 1.0)
SMPP_RECONNECT_MAX_SECONDS = env_float("SMPP_RECONNECT_MAX_SECONDS", 60.0)
SMPP_THROTTLE_PAUSE_SECONDS = env_float("SMPP_THROTTLE_PAUSE_SECONDS", 0.5)
SMPP_THROTTLE_PAUSE_MAX_SECONDS = env_float("SMPP_THROTTLE_PAUSE_MAX_SECONDS", 8.0)
SMPP_POLL_SECONDS = env_float("SMPP_POLL_SECONDS", 0.1)  # how often an idle bind looks for work
SMPP_BATCH_SIZE = env_int("SMPP_BATCH_SIZE", 200)  # messages claimed in one statement
SMPP_ROUND_RUNNERS = env_int("SMPP_ROUND_RUNNERS", 3)  # delivery rounds at once in the bind process
SMPP_DB_THREADS = env_int("SMPP_DB_THREADS", 3)  # the bind process's threads for receipts and MO
SMPP_WRITE_DELAY_SECONDS = env_float("SMPP_WRITE_DELAY_SECONDS", 0.02)  # receipts gathered per batch
# A receipt for a part not written yet is tried again for this long before it counts as unknown.
SMPP_RECEIPT_WAIT_SECONDS = env_float("SMPP_RECEIPT_WAIT_SECONDS", 3.0)
SMPP_ACCOUNTS_REFRESH_SECONDS = env_float("SMPP_ACCOUNTS_REFRESH_SECONDS", 5.0)
SMPP_TLS_CA_FILE = env_str("SMPP_TLS_CA_FILE", "")  # else the system's trust store
# A concatenated MO message still missing parts this long after its first is taken in as it is.
SMPP_MO_PARTS_MAX_AGE_SECONDS = env_float("SMPP_MO_PARTS_MAX_AGE_SECONDS", 600.0)

# The platform's own API rules.
API_KEY_RATE_LIMIT = env_str("API_KEY_RATE_LIMIT", "100/m")
UI_RATE_LIMIT = env_str("UI_RATE_LIMIT", "1000/m")
LOGIN_FAILURE_RATE_PER_ACCOUNT = env_str("LOGIN_FAILURE_RATE_PER_ACCOUNT", "10/15m")
LOGIN_FAILURE_RATE_PER_ADDRESS = env_str("LOGIN_FAILURE_RATE_PER_ADDRESS", "50/15m")
# Password-reset requests (each sends an email) per account address and per client address.
PASSWORD_RESET_RATE_PER_ACCOUNT = env_str("PASSWORD_RESET_RATE_PER_ACCOUNT", "5/h")
PASSWORD_RESET_RATE_PER_ADDRESS = env_str("PASSWORD_RESET_RATE_PER_ADDRESS", "20/h")
# Unknown API keys or session tokens presented by one client address (guessing).
BEARER_FAILURE_RATE_PER_ADDRESS = env_str("BEARER_FAILURE_RATE_PER_ADDRESS", "50/15m")
SESSION_TOKEN_TTL_HOURS = env_int("SESSION_TOKEN_TTL_HOURS", 24 * 14)
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)
IDEMPOTENCY_TTL_HOURS = 24
RATELIMIT_USE_CACHE = "default"
# The request META key that holds the client's address (REMOTE_ADDR, or e.g. HTTP_X_REAL_IP behind
# a proxy); django-ratelimit reads it through client_ip(), which never fails on a missing one.
CLIENT_ADDRESS_META_KEY = env_str("RATELIMIT_IP_META_KEY", "REMOTE_ADDR")
RATELIMIT_IP_META_KEY = "messaging_platform.api.throttling.client_ip"
# django-ratelimit warns about the local-memory cache; it is fine for one process (make run).
# Its W001 also flags Django's own RedisCache only because the list it checks predates it; that
# backend's incr() is Redis's atomic INCR, which is all django-ratelimit needs.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + ([] if REDIS_URL else ["django_ratelimit.E003"])
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
# A contacts CSV (100,000 rows) is streamed into the database in chunks: its own body limit.
CONTACT_IMPORT_MAX_BYTES = env_int("CONTACT_IMPORT_MAX_BYTES", 50 * 1024 * 1024)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.SessionTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_PAGINATION_CLASS": "messaging_platform.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["messaging_platform.api.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["messaging_platform.api.parsers.OrjsonParser"],
    "EXCEPTION_HANDLER": "messaging_platform.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "messaging_platform.api.schema.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Messaging Platform API",
    "DESCRIPTION": "Send and receive SMS/MMS through your workspace's carrier account.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The contract is public: served whatever credentials come with the request (an SDK that
    # always sends its API key must be able to fetch it).
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models have a `status` field with different choices: name them apart.
    "ENUM_NAME_OVERRIDES": {"WebhookDeliveryStatusEnum": "messaging.models.DeliveryStatus"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messaging_platform.api.schema.add_error_responses",
    ],
}

# JSON lines in production (python-json-logger), plain text under DEBUG (`make run`); each line
# carries the request id that follows a message into its tasks, and its workspace/message ids.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "messaging.operations.logs.LogContextFilter"}},
    "formatters": {
        "plain": {
            "()": "messaging.operations.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s "
            "%(workspace_id)s %(message_id)s %(carrier_sid)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The twilio library logs every request and response at INFO (without credentials).
        "twilio.http_client": {"level": env_str("TWILIO_LOG_LEVEL", "WARNING")},
    },
}
