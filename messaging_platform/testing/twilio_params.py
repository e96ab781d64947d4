"""Twilio's webhook side, without a server: sids, signatures exactly as Twilio computes them, and the
form parameters of inbound-message and status-callback webhooks. Used by the fake Twilio, by tests
(with the Django test client) and by bench/ scripts."""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Iterable, Mapping

import phonenumbers
import requests
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€")
_GSM7_ALL = frozenset(_GSM7 | _GSM7_EXT)


def new_sid(prefix: str) -> str:
    """A Twilio-style id: two letters and 32 hex digits (SM…, PN…, MG…, AC…)."""
    return prefix + secrets.token_hex(16)


def compute_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def signature_headers(url: str, params: Mapping[str, str], auth_token: str) -> dict[str, str]:
    """The `X-Twilio-Signature` header Twilio would send with a POST of `params` to `url`.
    Django test client: `client.post(url, params, headers=signature_headers(url, params, token))`."""
    return {SIGNATURE_HEADER: compute_signature(url, params, auth_token)}


def signed_post(
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> requests.Response:
    """POST form-encoded `params` to `url` over HTTP, signed as Twilio signs webhooks."""
    headers = {**signature_headers(url, params, auth_token), "User-Agent": "TwilioProxy/1.1"}
    return (session or requests).post(url, data=dict(params), headers=headers, timeout=timeout)


def inbound_params(
    *,
    from_number: str,
    to_number: str,
    body: str = "",
    media_urls: Iterable[str] = (),
    message_sid: str | None = None,
    account_sid: str | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form parameters of Twilio's inbound-message webhook."""
    media = list(media_urls)
    sid = message_sid or new_sid("MM" if media else "SM")
    params = {
        "ToCountry": "US",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": to_number,
        "ToZip": "",
        "NumSegments": str(segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid or new_sid("AC"),
        "From": from_number,
        "ApiVersion": API_VERSION,
    }
    for i, url in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = "image/jpeg"
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    return params


def status_params(
    *,
    message_sid: str,
    status: str,
    from_number: str = "",
    to_number: str = "",
    error_code: str | int | None = None,
    account_sid: str | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form parameters of Twilio's message status callback."""
    params = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to_number,
        "MessageSid": message_sid,
        "AccountSid": account_sid or new_sid("AC"),
        "From": from_number,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code not in (None, ""):
        params["ErrorCode"] = str(error_code)
    return params


def segments(body: str) -> int:
    """Segments of an SMS body: GSM-7 160/153 (extension characters count twice), else UCS-2 70/67."""
    if not body:
        return 1
    characters = set(body)  # set operations: a fake carrier counts thousands of bodies a second
    if characters <= _GSM7_ALL:
        extended = sum(body.count(c) for c in characters & _GSM7_EXT)
        length, single, multi = len(body) + extended, 160, 153
    else:
        length, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67  # UTF-16 code units
    return 1 if length <= single else math.ceil(length / multi)


def twilio_date(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))


def possible_e164(number: str) -> bool:
    if not re.fullmatch(r"\+[1-9]\d{6,14}", number or ""):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False
