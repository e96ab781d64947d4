"""Errors in Twilio's shape: {"code", "message", "more_info", "status"}, with Twilio's codes."""

from __future__ import annotations

from rest_framework import exceptions as drf
from rest_framework.response import Response

from messaging_platform.api.exceptions import describe_exception
from messaging_platform.errors import DomainError

from .errors import TwilioError, invalid, not_found, unauthorized

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


# The platform's own error codes (from the send service and its checks) as Twilio's.
_PLATFORM_CODES = {
    "from_number_not_allowed": (400, 21606),
    "provider_not_configured": (400, 21606),
    "recipient_opted_out": (400, 21610),
    "not_cancelable": (400, 30409),
    "rate_limited": (429, 20429),
    "unauthorized": (401, 20003),
    "not_found": (404, 20404),
    "payload_too_large": (413, 21617),
    "service_unavailable": (503, 20503),
    "method_not_allowed": (405, 20004),
    "unsupported_media_type": (415, 20001),
}


def from_exception(exc: Exception, path: str) -> TwilioError | None:
    """The Twilio error for an exception the platform raised; None if it is an unexpected one."""
    if isinstance(exc, TwilioError):
        return exc
    if isinstance(exc, DomainError) and exc.code == "invalid_phone_number":
        field = next(iter(exc.fields or {"to": None}))
        if field == "from":
            return invalid(21212, f"The 'From' number {exc.detail}")
        return invalid(21211, f"Invalid 'To' Phone Number: {exc.detail}")
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return unauthorized()
    if isinstance(exc, drf.NotFound):
        return not_found(path)
    described = describe_exception(exc)
    if described is None:
        return None
    status, body, headers = described
    code = body.get("error", "")
    if isinstance(exc, DomainError) or code in _PLATFORM_CODES:
        status, twilio_code = _PLATFORM_CODES.get(code, (status, 20001 if status < 500 else 20500))
        return TwilioError(status, twilio_code, str(body.get("detail", "")), headers)
    return TwilioError(status, 20001 if status < 500 else 20500, str(body.get("detail", "")), headers)


def error_response(error: TwilioError) -> Response:
    body = {
        "code": error.code,
        "message": error.message,
        "more_info": MORE_INFO.format(code=error.code),
        "status": error.status,
    }
    response = Response(body, status=error.status, headers=error.headers)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response
