"""Carrier webhooks: verify the signature, check the target exists, store the raw event, answer
fast. A worker applies the event."""

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from messaging_platform.api.exceptions import error_body
from numbers.models import ProviderAccount
from numbers.providers import get_provider

from .carrier_events import carrier_event_record, find_our_side
from .models import CarrierEventKind, Message

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


@csrf_exempt
def twilio_webhook(request: HttpRequest, workspace_id: str, kind: str) -> HttpResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Carrier webhooks are POST requests.")
        response["Allow"] = "POST"
        return response
    account = (ProviderAccount.objects.select_related("workspace")
               .filter(workspace_id=workspace_id, workspace__is_active=True,
                       provider="twilio").first())
    if account is None:
        return _error(404, "not_found", "No Twilio account for this workspace.")
    provider = get_provider(account)
    params = request.POST.dict()
    # Behind a proxy the request's own host is not what Twilio signed: use the public URL.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not provider.validate_webhook(url=url, params=params, signature=signature):
        logger.warning("Refused a %s webhook for %s: bad signature", kind, workspace_id)
        return _error(403, "forbidden", "Missing or invalid X-Twilio-Signature.")
    workspace = account.workspace
    try:
        if kind == CarrierEventKind.INBOUND:
            inbound = provider.parse_inbound(params)
            if find_our_side(workspace, inbound) is None:
                return _error(404, "not_found", "The To number is not a number of this workspace.")
            carrier_event_record(workspace=workspace, provider="twilio", kind=kind, params=params)
            return HttpResponse(EMPTY_TWIML, content_type="text/xml")
        update = provider.parse_status(params)
    except ValueError as exc:
        return _error(400, "invalid_params", str(exc))
    messages = Message.objects.for_workspace(workspace)
    message = None
    if message_id := request.GET.get("message_id"):
        message = messages.filter(pk=message_id).first()
    if message is None:
        message = messages.filter(provider_sid=update.provider_sid).first()
    if message is None:
        return _error(404, "not_found", "No message of this workspace matches this callback.")
    carrier_event_record(workspace=workspace, provider="twilio", kind=kind, params=params,
                         message=message)
    return HttpResponse(status=204)
