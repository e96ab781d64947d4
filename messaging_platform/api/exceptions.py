"""Every error the API answers, in one format: {"error": "<code>", "detail": "<text>"}."""

import logging

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from messaging_platform.errors import DomainError

logger = logging.getLogger(__name__)

# The HTTP status of each domain error code; any other code is a 400.
DOMAIN_STATUS: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "rate_limited": 429,
    "provider_unavailable": 503,
    **dict.fromkeys(
        (
            "already_member",
            "email_taken",
            "endpoint_disabled",
            "idempotency_conflict",
            "last_owner",
            "message_not_final",
            "not_cancelable",
            "not_retryable",
            "not_startable",
            "number_already_added",
            "number_unavailable",
        ),
        409,
    ),
}

_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.NotAuthenticated, "unauthorized"),
    (drf.AuthenticationFailed, "unauthorized"),
    (drf.PermissionDenied, "forbidden"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "rate_limited"),
    (drf.ParseError, "invalid_params"),
]


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [msg for value in detail.values() for msg in _flatten(value)]
    if isinstance(detail, list):
        return [msg for value in detail for msg in _flatten(value)]
    return [str(detail)]


def _field_messages(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def _missing_fields(exc: drf.ValidationError) -> list[str]:
    codes = exc.get_codes()
    if not isinstance(codes, dict):
        return []
    return [field for field, field_codes in codes.items() if "required" in _flatten(field_codes)]


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    body: dict[str, object] = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def describe_exception(exc: Exception) -> tuple[int, dict, dict] | None:
    """The status, body and headers for an exception, or None if it is an unexpected one."""
    if isinstance(exc, DomainError):
        headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return DOMAIN_STATUS.get(exc.code, 400), error_body(exc.code, exc.detail, exc.fields), headers
    if isinstance(exc, drf.ValidationError):
        fields = _field_messages(exc.detail)
        missing = _missing_fields(exc)
        if missing:
            detail = "Missing required parameter(s): " + ", ".join(missing) + "."
            return 400, error_body("missing_params", detail, fields), {}
        first_field, messages = next(iter(fields.items()))
        prefix = "" if first_field == "non_field_errors" else f"{first_field}: "
        return 400, error_body("invalid_params", prefix + messages[0], fields), {}
    if isinstance(exc, Http404):
        return 404, error_body("not_found", "Not found."), {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, error_body("forbidden", "You do not have permission to do this."), {}
    if isinstance(exc, RequestDataTooBig):
        return 413, error_body("payload_too_large", "The request body is too large."), {}
    if isinstance(exc, (SuspiciousOperation, BadRequest)):  # BadRequest: an undecodable form
        return 400, error_body("invalid_params", "The request could not be understood."), {}
    if isinstance(exc, DataError):
        # A value the database refuses (out of range, malformed for its type): the input's fault.
        logger.info("Refused input the database cannot take: %s", exc.__class__.__name__)
        return (
            400,
            error_body(
                "invalid_params",
                "A parameter has a value the platform cannot store or compare (out of range or malformed).",
            ),
            {},
        )
    if isinstance(exc, (OperationalError, InterfaceError)) or _is_redis_outage(exc):
        logger.warning("Service unavailable: %s", exc.__class__.__name__)
        detail = "A backing service is unavailable; try again shortly."
        return 503, error_body("service_unavailable", detail), {"Retry-After": "5"}
    if isinstance(exc, drf.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
        if code is None:
            code = "internal_error" if exc.status_code >= 500 else "invalid_params"
        headers = {}
        wait = getattr(exc, "wait", None)  # set by Throttled (the stubs do not declare it)
        if isinstance(exc, drf.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, int(wait)))
        detail = exc.detail if isinstance(exc.detail, str) else " ".join(_flatten(exc.detail))
        if isinstance(exc, drf.ParseError):
            detail = "Malformed request body: " + str(detail)
        return exc.status_code, error_body(code, str(detail)), headers
    if isinstance(exc, DatabaseError) and "connection" in str(exc).lower():
        return 503, error_body("service_unavailable", "The database is unavailable."), {}
    return None


def _is_redis_outage(exc: Exception) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))


def internal_error_body() -> dict:
    return error_body("internal_error", "An unexpected error occurred. It has been logged.")


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: known errors in the format; others go to the middleware."""
    described = describe_exception(exc)
    if described is None:
        return None
    status, body, headers = described
    response = Response(body, status=status, headers=headers)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_error_response(exc: Exception | None) -> JsonResponse:
    described = describe_exception(exc) if exc is not None else None
    if described is None:
        response = JsonResponse(internal_error_body(), status=500)
    else:
        status, body, headers = described
        response = JsonResponse(body, status=status)
        for name, value in headers.items():
            response[name] = value
    return response
