"""The Twilio-shaped JSON of the fake's resources: a Message, an IncomingPhoneNumber, an Account."""

from __future__ import annotations

from typing import Any

from ..twilio_params import API_VERSION, segments, twilio_date
from .records import FakeAccount, FakeNumber, SentMessage


def message_json(
    account: FakeAccount,
    message: SentMessage,
    *,
    created: bool,
    status: str,
    error_code: str | None,
    shown_from: str | None,
) -> dict[str, Any]:
    """A Message as Twilio answers it: right after create (`created`: not sent yet), or later."""
    return {
        "account_sid": account.sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": twilio_date(message.received_at),
        "date_sent": None if created else twilio_date(message.received_at),
        "date_updated": twilio_date(message.received_at),
        "direction": "outbound-api",
        "error_code": int(error_code) if error_code else None,
        "error_message": None,
        # A Messaging Service picks the sender later: Twilio answers "accepted" and no From.
        "from": shown_from,
        "messaging_service_sid": message.messaging_service_sid or None,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(segments(message.body)),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": status,
        "subresource_uris": {
            "media": f"/{API_VERSION}/Accounts/{account.sid}/Messages/{message.sid}/Media.json"
        },
        "to": message.to,
        "uri": f"/{API_VERSION}/Accounts/{account.sid}/Messages/{message.sid}.json",
    }


def number_json(account: FakeAccount, number: FakeNumber) -> dict[str, Any]:
    return {
        "account_sid": account.sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "capabilities": {"voice": number.voice, "sms": number.sms, "mms": number.mms, "fax": False},
        "date_created": twilio_date(number.created),
        "date_updated": twilio_date(number.created),
        "friendly_name": number.friendly_name or number.phone_number,
        "origin": "twilio",
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status": "in-use",
        "status_callback": number.status_callback,
        "status_callback_method": "POST",
        "trunk_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account.sid}/IncomingPhoneNumbers/{number.sid}.json",
        "voice_method": "POST",
        "voice_url": "",
    }


def account_json(account: FakeAccount) -> dict[str, Any]:
    return {
        # Twilio returns the Auth Token here too; callers must not leak it.
        "auth_token": account.auth_token,
        "date_created": twilio_date(0),
        "date_updated": twilio_date(0),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {},
        "type": "Full",
        "uri": f"/{API_VERSION}/Accounts/{account.sid}.json",
    }
