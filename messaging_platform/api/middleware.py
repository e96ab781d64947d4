import logging

from django.http import HttpRequest

from .exceptions import describe_exception, json_error_response

logger = logging.getLogger("messaging_platform.api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class ApiErrorMiddleware:
    """Under /api/, an exception that escaped a view answers in the error format, never HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_api_path(request.path):
            return None
        if describe_exception(exception) is None:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error_response(exception)
