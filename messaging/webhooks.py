"""Carrier webhooks: /webhooks/<provider>/<workspace_id>/<route>, one route per adapter-declared
webhook. The view only translates HTTP; messaging.carrier_intake verifies and stores."""

import logging
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl, unquote

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import HttpHeaders
from django.views.decorators.csrf import csrf_exempt

from messaging_platform.api.exceptions import error_body, json_error_response
from messaging_platform.api.lean import serves_raw
from numbers.providers.base import WebhookRequest

from .carrier_intake import IntakeRefused, IntakeUnavailable, webhook_receive

logger = logging.getLogger(__name__)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


class _Headers(Mapping[str, str]):
    """request.headers, each header read from the WSGI environ only when asked for: an adapter
    reads one or two, and HttpHeaders parses the name of every header the request has."""

    def __init__(self, request: HttpRequest):
        self._request = request

    def __getitem__(self, name: str) -> str:
        return self._request.META[HttpHeaders.to_wsgi_name(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._request.headers)

    def __len__(self) -> int:
        return len(self._request.headers)


def urlencoded_fields(raw: bytes, encoding: str) -> dict[str, str]:
    """QueryDict(raw, encoding=encoding).dict() (each name's last value, blank values kept),
    without the QueryDict, whose per-field bookkeeping cost as much as parsing the fields."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")  # as QueryDict does
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is not None and text and limit < 1 + text.count("&"):  # parse_qsl's count
        raise TooManyFieldsSent(
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
        )
    if "%26" in text or "%3D" in text or "%3d" in text:  # an escaped & or =: field by field
        return dict(parse_qsl(text, keep_blank_values=True, encoding=encoding))
    # Otherwise every & and = left once unescaped is a separator, and escapes never span one,
    # so unquoting the whole text once reads each name and value as parse_qsl does one by one.
    fields = {}
    for field in unquote(text.replace("+", " "), encoding=encoding, errors="replace").split("&"):
        if field:
            name, _, value = field.partition("=")
            fields[name] = value
    return fields


def _form(request: HttpRequest) -> dict[str, str]:
    """request.POST.dict(): a url-encoded body parsed as Django parses it, once."""
    if request.content_type == "application/x-www-form-urlencoded":
        body = request.body
        if request.encoding is not None and request.encoding.lower() != "utf-8":
            raise BadRequest(
                "HTTP requests with the 'application/x-www-form-urlencoded' "
                "content type must be UTF-8 encoded."
            )
        return urlencoded_fields(body, "utf-8")
    if request.content_type == "multipart/form-data":
        return request.POST.dict()
    return {}


def _webhook_request(request: HttpRequest) -> WebhookRequest:
    # Behind a proxy the request's own host is not what the carrier signed: use the public URL.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    body = request.body
    form = _form(request)
    query = urlencoded_fields(
        request.META.get("QUERY_STRING", "").encode("iso-8859-1"),
        request.encoding or settings.DEFAULT_CHARSET,
    )
    return WebhookRequest(url=url, headers=_Headers(request), body=body, form=form, query=query)


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
