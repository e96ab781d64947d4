"""Per-key and per-user rate limits on the shared cache, with X-RateLimit-* headers.

django-ratelimit counts in fixed windows in the cache (Redis in production), so every web process
shares one budget. The usage is kept on the request so that every answer can carry the headers.
"""

import ipaddress
import time

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

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
        rate = getattr(settings, self.setting)
        usage = get_usage(
            request,
            group=self.group,
            key=lambda group, req: self.key(req),
            rate=rate,
            method=ALL,
            increment=True,
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
