"""Carrier webhooks: /webhooks/<provider>/<workspace_id>/<route>, one route per adapter-declared
webhook. The view only translates HTTP; messaging.carrier_intake verifies and stores."""

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from messaging_platform.api.exceptions import error_body, json_error_response
from messaging_platform.api.lean import serves_raw
from numbers.providers.base import WebhookRequest

from .carrier_intake import IntakeRefused, IntakeUnavailable, webhook_receive

logger = logging.getLogger(__name__)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


def _webhook_request(request: HttpRequest) -> WebhookRequest:
    is_form = request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    return WebhookRequest(
        # Behind a proxy the request's own host is not what the carrier signed: use the public URL.
        url=settings.PUBLIC_BASE_URL + request.get_full_path(),
        headers=request.headers,
        body=request.body,
        form=request.POST.dict() if is_form else {},
        query=request.GET.dict(),
    )


@serves_raw  # by the raw entry too (messaging_platform/raw_entry.py)
@csrf_exempt
def carrier_webhook(request: HttpRequest, provider: str, workspace_id: str, route: str) -> HttpResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Carrier webhooks are POST requests.")
        response["Allow"] = "POST"
        return response
    try:
        answer = webhook_receive(
            provider=provider, workspace_id=workspace_id, route=route, request=_webhook_request(request)
        )
    except IntakeRefused as exc:
        return _error(exc.status, exc.code, exc.detail)
    except IntakeUnavailable as exc:
        response = _error(
            503, "service_unavailable", "The platform cannot take this event right now; try again shortly."
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    except (BadRequest, UnicodeDecodeError):
        return _error(400, "invalid_params", "The request body could not be read as a form.")
    except (RequestDataTooBig, SuspiciousOperation) as exc:
        return json_error_response(exc)
    except Exception as exc:  # never Django's HTML 500 to a carrier
        logger.exception("Carrier webhook %s/%s failed", provider, route)
        return json_error_response(exc)
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type or None)
