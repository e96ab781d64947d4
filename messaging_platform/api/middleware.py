import logging
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse

from messaging_platform.errors import invalid_params

from .exceptions import describe_exception, json_error_response

logger = logging.getLogger("messaging_platform.api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def answers_json(path: str) -> bool:
    """The paths whose every answer, errors included, is JSON: the API and the carrier webhooks."""
    return is_api_path(path) or path == "/webhooks" or path.startswith("/webhooks/")


_STREAMED_UPLOADS = re.compile(r"^/api/ui/workspaces/[^/]+/contacts/import$")


def _declared_too_large(request: HttpRequest) -> bool:
    # DRF's parsers read the body stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    # check (which only guards request.body and request.POST), so the limit is applied here.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if _STREAMED_UPLOADS.match(request.path):
        # A CSV of contacts is read as a stream, never whole into memory: its own, larger limit.
        limit = settings.CONTACT_IMPORT_MAX_BYTES
    if limit is None:
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > limit


def _has_nul(request: HttpRequest) -> bool:
    """A NUL in the path or the query: PostgreSQL cannot store or compare text holding one."""
    if "\x00" in request.path:
        return True
    query = request.META.get("QUERY_STRING", "")
    if "%00" not in query and "\x00" not in query:  # the common case costs one scan
        return False
    return any(
        "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
    )


def refusal_before_view(request: HttpRequest) -> JsonResponse | None:
    """The answer to a request no view may see (under /api/ and /webhooks/): a declared body
    over the limit, a NUL in the path or query."""
    if answers_json(request.path):
        if _declared_too_large(request):
            return json_error_response(RequestDataTooBig())
        if _has_nul(request):
            return json_error_response(
                invalid_params("The path and query parameters may not contain NUL characters.")
            )
    return None


class ApiErrorMiddleware:
    """Under /api/ and /webhooks/, an exception that escaped a view answers in the error format,
    never HTML; input PostgreSQL cannot take (NUL) is refused before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        refusal = refusal_before_view(request)
        return refusal if refusal is not None else self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not answers_json(request.path):
            return None
        if describe_exception(exception) is None:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error_response(exception)
