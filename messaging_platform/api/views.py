"""Fallback views that keep every answer under /api/ in the error format."""

import sys

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .exceptions import error_body, json_error_response
from .middleware import is_api_path


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)


def server_error(request: HttpRequest):
    """handler500: JSON under /api/ (503 when a backing service is down), a plain page elsewhere."""
    exc = sys.exc_info()[1]
    if is_api_path(request.path):
        return json_error_response(exc)
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
