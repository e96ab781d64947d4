"""Per-key and per-user rate limits on the shared cache, with X-RateLimit-* headers.

Counted in django-ratelimit's fixed windows (each key's window staggered by a hash of the key) in
the cache (Redis in production), so every web process shares one budget. On Redis a request costs
one round trip: a Lua script increments the window's counter and sets its expiry when it creates
it (django-ratelimit's own add-then-incr is three trips: SET NX, EXISTS, INCR), sent by EVALSHA
on a pooled connection (the client's own path when Redis must load the script or reconnect). Other caches go
through django-ratelimit. The usage is kept on the request so that every answer can carry the
headers.
"""

import ipaddress
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate, get_usage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

# INCR, and the window's expiry when this request created its counter: atomic, one round trip.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_script: list = []  # the registered script (EVALSHA, loaded again if Redis forgot it)
# One client per connection pool: Django's cache makes a new redis.Redis for every command, and
# building one (its table of response callbacks) cost more than the round trip's own Python.
_clients: dict[int, Any] = {}


def _client_of(cache: RedisCache) -> Any:
    """The cache's redis.Redis for writes, made once per connection pool (the pool is the
    cache's own, so connections, timeouts and the server are the same)."""
    backend: Any = cache._cache  # Django's RedisCacheClient: its pool and client class
    pool = backend._get_connection_pool(True)
    client = _clients.get(id(pool))
    if client is None or client.connection_pool is not pool:
        client = _clients[id(pool)] = backend._client(connection_pool=pool)
    return client


def _count_in_redis(cache: RedisCache, key: str, expiry: int) -> int:
    full_key = cache.make_and_validate_key(key)
    client = _client_of(cache)
    if not _script:
        _script.append(client.register_script(_COUNT_SCRIPT))
    script = _script[0]
    count = _evalsha_on_connection(client, script.sha, full_key, expiry)
    if count is None:  # through the client: it loads the script, reconnects, retries
        count = script(keys=[full_key], args=[expiry], client=client)
    return int(count)


def _evalsha_on_connection(client: Any, sha: str, key: str, expiry: int) -> Any:
    """The script's answer, sent on a connection of the client's pool directly (the client's
    command path, its retry wrapper and response callbacks, cost twice the round trip's own
    Python); None when Redis does not know the script or the connection failed, for the client
    to handle as it does."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(connection.pack_command("EVALSHA", sha, 1, key, expiry))
        return connection.read_response()
    except NoScriptError:
        return None
    except (RedisConnectionError, RedisTimeoutError):
        connection.disconnect()
        return None
    except BaseException:  # anything else mid-read: the connection's replies are out of step
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


# The rate limit's cache in each thread, as `caches` hands it out: looked up there (an asgiref
# Local behind a lock) it cost as much as the Redis command's own Python. Forgotten when the
# cache settings change.
_cache_of_thread: dict[tuple[int, str], object] = {}


def _forget_caches(setting: str, **kwargs) -> None:
    if setting in ("CACHES", "RATELIMIT_USE_CACHE"):
        _cache_of_thread.clear()


setting_changed.connect(_forget_caches, dispatch_uid="throttling-forget-caches")


def _rate_limit_cache():
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    key = (threading.get_ident(), alias)
    cache = _cache_of_thread.get(key)
    if cache is None:
        cache = caches[alias]
        if isinstance(cache, RedisCache):  # thread-safe; other backends are looked up each time
            if len(_cache_of_thread) >= 1024:  # threads come and go (a thread pool, ASGI)
                _cache_of_thread.clear()
            _cache_of_thread[key] = cache
    return cache


def usage_of(request, *, group: str, value: str, rate: str) -> dict | None:
    """Count this request in `value`'s current window of `group`: {count, limit, should_limit,
    time_left}, as django-ratelimit's get_usage answers it (None when rate limits are off)."""
    cache = _rate_limit_cache()
    if not isinstance(cache, RedisCache) or not getattr(settings, "RATELIMIT_ENABLE", True):
        return get_usage(
            request, group=group, key=lambda group, req: value, rate=rate, method=ALL, increment=True
        )
    limit, period = _split_rate(rate)
    window = _get_window(value, period)
    count = _count_in_redis(
        cache, _make_cache_key(group, window, rate, value, ALL), period + EXPIRATION_FUDGE
    )
    return {
        "count": count,
        "limit": limit,
        "should_limit": count > limit,
        "time_left": window - int(time.time()),
    }


UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 - a bucket name, not a bind address


def client_ip(request) -> str:
    """The client's address for per-address limits (django-ratelimit's RATELIMIT_IP_META_KEY).

    A missing or malformed value (a unix-socket server, a test client, a forged header) falls into
    one shared bucket instead of raising, which django-ratelimit's own reader does (a 500). Of a
    comma-separated list (X-Forwarded-For), the last entry is the one our own proxy added.
    """
    raw = str(request.META.get(settings.CLIENT_ADDRESS_META_KEY, "") or "")
    candidate = raw.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return UNKNOWN_ADDRESS


class RateLimit(BaseThrottle):
    group = ""
    setting = ""

    def key(self, request) -> str:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        usage = usage_of(
            request, group=self.group, value=str(self.key(request)), rate=getattr(settings, self.setting)
        )
        if usage is None:
            return True
        request._rate_limit_usage = usage
        self._wait = usage["time_left"]
        return not usage["should_limit"]

    def wait(self) -> float:
        return max(1, self._wait)


class ApiKeyRateLimit(RateLimit):
    group = "api-key"
    setting = "API_KEY_RATE_LIMIT"

    def key(self, request) -> str:
        return request.auth.pk


class UserRateLimit(RateLimit):
    group = "ui-user"
    setting = "UI_RATE_LIMIT"

    def key(self, request) -> str:
        return request.user.pk


def rate_limit_headers(request) -> dict[str, str]:
    usage = getattr(request, "_rate_limit_usage", None)
    if not usage:
        return {}
    return {
        "X-RateLimit-Limit": str(usage["limit"]),
        "X-RateLimit-Remaining": str(max(0, usage["limit"] - usage["count"])),
        "X-RateLimit-Reset": str(int(time.time()) + usage["time_left"]),
    }
