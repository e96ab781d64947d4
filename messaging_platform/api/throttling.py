"""Per-key and per-user rate limits on the shared cache, with X-RateLimit-* headers.

django-ratelimit counts in fixed windows in the cache (Redis in production), so every web process
shares one budget. The usage is kept on the request so that every answer can carry the headers.
"""

import time

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle


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
