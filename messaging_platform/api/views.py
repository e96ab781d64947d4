"""Fallback views that keep every answer under /api/ and /webhooks/ in the error format."""

import sys

from django.http import HttpRequest, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from .exceptions import error_body, json_error_response
from .middleware import answers_json


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)


def server_error(request: HttpRequest):
    """handler500: JSON under /api/ and /webhooks/ (503 when a backing service is down), a plain
    page elsewhere."""
    exc = sys.exc_info()[1]
    if answers_json(request.path):
        return json_error_response(exc)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception):
    """handler400: what Django refuses before a view runs (a bad Host header, a body over the
    limit read outside a view), in the error format where the path answers JSON."""
    if answers_json(request.path):
        return json_error_response(exception)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception):
    if answers_json(request.path):
        return JsonResponse(error_body("forbidden", "You do not have permission to do this."), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception):
    if answers_json(request.path):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)
