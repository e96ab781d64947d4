"""GET /healthz: the state of the database, cache and broker, for load balancers and operators.

A load balancer probes by the instance's address, not by the site's name, so `/healthz` answers
whatever the Host header says: HealthCheckMiddleware serves that one exact path before any
middleware that validates the host against ALLOWED_HOSTS (CommonMiddleware, CSRF, the views).
"""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.clickjacking import xframe_options_deny

HEALTHZ_PATH = "/healthz"


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache read back a different value")
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok"  # tasks run in-process: there is no broker to be down
    from messaging_platform.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


@xframe_options_deny  # served before XFrameOptionsMiddleware, so the header is set here
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
    results: dict[str, str] = {}
    healthy = True
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # any failure means that dependency is down
            results[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )


class HealthCheckMiddleware:
    """Answers `/healthz` (that path only, exactly) without looking at the Host header.

    Placed right after SecurityMiddleware, which only reads the host to redirect to HTTPS (and
    SECURE_REDIRECT_EXEMPT exempts the probe) but still adds its headers to the answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTHZ_PATH:
            return healthz(request)
        return self.get_response(request)
