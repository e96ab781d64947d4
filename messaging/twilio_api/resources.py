"""The platform's objects as Twilio's 2010-04-01 resources: the fields, names, types and formats
that Twilio's SDKs read."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from messaging.models import Direction, Message
from numbers.models import PhoneNumber
from workspaces.models import Workspace

API_VERSION = "2010-04-01"
ROOT = f"/{API_VERSION}"

# Twilio-style sids for the platform's ids: the random part of the id behind Twilio's prefix, so
# that a sid leads back to its row without a lookup table.
_SID_PREFIXES = {"msg": "SM", "pn": "PN"}


NUMBER_TYPES = {"long_code": "local", "toll_free": "tollfree", "short_code": "shortcode"}


def sid_for(object_id: str) -> str:
    kind, _, rest = object_id.partition("_")
    return _SID_PREFIXES[kind] + rest


def id_for(sid: str, kind: str) -> str | None:
    prefix = _SID_PREFIXES[kind]
    if not sid.startswith(prefix) or not sid[2:].isalnum() or len(sid) > 40:
        return None
    return f"{kind}_{sid[2:]}"


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: `Thu, 30 Jul 2015 20:12:31 +0000`."""
    return format_datetime(moment.astimezone(UTC)) if moment else None


def account_uri(workspace: Workspace) -> str:
    return f"{ROOT}/Accounts/{workspace.account_sid}"


def twilio_error_code(code: str | None) -> int | None:
    """Twilio's error codes are integers; a platform code that is not one (`expired`, …) is shown
    as 30008, Twilio's "unknown error", with the platform's text in error_message."""
    if not code:
        return None
    return int(code) if code.isdigit() else 30008


def message_resource(message: Message, workspace: Workspace) -> dict:
    sid = sid_for(message.id)
    uri = f"{account_uri(workspace)}/Messages/{sid}"
    inbound = message.direction == Direction.INBOUND
    error_message = message.error_message
    if message.error_code and not message.error_code.isdigit():
        error_message = f"{message.error_code}: {error_message or ''}".rstrip(": ")
    return {
        "account_sid": workspace.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.created_at),
        "date_sent": rfc2822(message.created_at if inbound else message.sent_at),
        "date_updated": rfc2822(message.updated_at),
        "direction": "inbound" if inbound else "outbound-api",
        "error_code": twilio_error_code(message.error_code),
        "error_message": error_message,
        "from": message.from_number or None,
        "messaging_service_sid": message.messaging_service_sid or None,
        "num_media": str(len(message.media_urls or [])),
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": message.status,  # the platform's statuses are Twilio's words
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": message.to_number,
        "uri": f"{uri}.json",
    }


def account_resource(workspace: Workspace) -> dict:
    uri = account_uri(workspace)
    return {
        "auth_token": None,  # never shown: tokens are issued once, in the workspace settings
        "date_created": rfc2822(workspace.created_at),
        "date_updated": rfc2822(workspace.updated_at),
        "friendly_name": workspace.name,
        "owner_account_sid": workspace.account_sid,
        "sid": workspace.account_sid,
        "status": "active" if workspace.is_active else "suspended",
        "subresource_uris": {
            "messages": f"{uri}/Messages.json",
            "incoming_phone_numbers": f"{uri}/IncomingPhoneNumbers.json",
        },
        "type": "Full",
        "uri": f"{uri}.json",
    }


def number_resource(number: PhoneNumber, workspace: Workspace, webhooks) -> dict:
    uri = f"{account_uri(workspace)}/IncomingPhoneNumbers/{sid_for(number.id)}.json"
    return {
        "account_sid": workspace.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {
            "voice": number.voice_enabled,
            "sms": number.sms_enabled,
            "mms": number.mms_enabled,
            "fax": False,
        },
        "date_created": rfc2822(number.created_at),
        "date_updated": rfc2822(
            max(number.updated_at, webhooks.updated_at)
            if webhooks and webhooks.updated_at
            else number.updated_at
        ),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": number.friendly_name or number.phone_number,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": number.phone_number,
        "sid": sid_for(number.id),
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": webhooks.sms_method if webhooks else "POST",
        "sms_url": webhooks.sms_url if webhooks else "",
        "status": "in-use",
        "status_callback": webhooks.status_callback if webhooks else "",
        "status_callback_method": webhooks.status_callback_method if webhooks else "POST",
        "subresource_uris": {"assigned_add_ons": uri.removesuffix(".json") + "/AssignedAddOns.json"},
        "trunk_sid": None,
        "type": NUMBER_TYPES.get(number.number_type, "local"),
        "uri": uri,
        "voice_application_sid": "",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": None,
    }


def page_envelope(
    *,
    key: str,
    items: list[dict],
    path: str,
    filters: dict[str, str],
    page: int,
    page_size: int,
    next_token: str | None,
) -> dict:
    """Twilio's 2010 paging envelope. The SDKs follow `next_page_uri` until it is null."""

    def uri(page_number: int, token: str | None = None) -> str:
        query = {**filters, "PageSize": str(page_size), "Page": str(page_number)}
        if token:
            query["PageToken"] = token
        return f"{path}?{urlencode(query)}"

    start = page * page_size
    return {
        "end": start + max(len(items) - 1, 0),
        "first_page_uri": uri(0),
        key: items,
        "next_page_uri": uri(page + 1, next_token) if next_token else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }
