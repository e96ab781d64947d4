import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from .exceptions import describe_exception, json_error_response

logger = logging.getLogger("messaging_platform.api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _declared_too_large(request: HttpRequest) -> bool:
    # DRF's parsers read the body stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    # check (which only guards request.body and request.POST), so the limit is applied here.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > limit


class ApiErrorMiddleware:
    """Under /api/, an exception that escaped a view answers in the error format, never HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if is_api_path(request.path) and _declared_too_large(request):
            return json_error_response(RequestDataTooBig())
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_api_path(request.path):
            return None
        if describe_exception(exception) is None:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error_response(exception)
