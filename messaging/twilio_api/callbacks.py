"""Twilio-style callbacks: a message's `StatusCallback` and a number's `SmsUrl`, posted with
Twilio's parameters and `X-Twilio-Signature` (made with the workspace's auth token by the `twilio`
library's own RequestValidator, so a receiver's validator accepts it), retried and logged in
CallbackDelivery. A TwiML `<Message>` in an SmsUrl's answer is sent as the reply.

Flow: messaging.events publishes every message change after commit to EVENT_SINKS; our sink,
`on_platform_events`, stores a CallbackDelivery for each status change of a message sent with a
StatusCallback, and for each inbound message to a number with an SmsUrl, and enqueues it.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import phonenumbers
import requests
from defusedxml import ElementTree
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from twilio.request_validator import RequestValidator
from urllib3.util import Timeout

from messaging import events, sending
from messaging.urlsafety import UnsafeUrl, check_public_url
from workspaces.models import Workspace
from workspaces.services import workspace_signing_token

from .models import CallbackDelivery, CallbackKind, CallbackStatus, MessageStatusCallback, NumberWebhooks
from .resources import API_VERSION, sid_for

logger = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"  # what Twilio's own requests say; some receivers look for it
MAX_ANSWER_BYTES = 64 * 1024
MAX_REPLIES = 10
# The statuses Twilio posts to a StatusCallback. Not `sending` or `scheduled`: receivers written
# for Twilio (RapidPro's Courier among them) refuse statuses they do not know.
CALLBACK_STATUSES = frozenset({"queued", "sent", "delivered", "undelivered", "failed", "canceled", "read"})


# Parameters, as Twilio names them ------------------------------------------------------------


def status_params(data: dict, account_sid: str) -> dict[str, str]:
    sid = sid_for(data["id"])
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "From": data.get("from") or "",
        "MessageSid": sid,
        "MessageStatus": data["status"],
        "SmsSid": sid,
        "SmsStatus": data["status"],
        "To": data["to"],
    }
    if data.get("error_code"):
        code = str(data["error_code"])
        params["ErrorCode"] = code if code.isdigit() else "30008"
    return params


def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
    except phonenumbers.NumberParseException:
        return ""


def incoming_params(data: dict, account_sid: str, messaging_service_sid: str = "") -> dict[str, str]:
    sid = sid_for(data["id"])
    media = data.get("media_urls") or []
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "Body": data.get("body") or "",
        "From": data.get("from") or "",
        "FromCity": "",
        "FromCountry": _country(data.get("from") or ""),
        "FromState": "",
        "FromZip": "",
        "MessageSid": sid,
        "NumMedia": str(len(media)),
        "NumSegments": str(data.get("num_segments") or 1),
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": data["to"],
        "ToCity": "",
        "ToCountry": _country(data["to"]),
        "ToState": "",
        "ToZip": "",
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for index, url in enumerate(media):
        params[f"MediaUrl{index}"] = url
    return params


def signature(*, token: str, url: str, params: dict[str, str]) -> str:
    return RequestValidator(token).compute_signature(url, params)


# The sink ------------------------------------------------------------------------------------


def on_platform_events(workspace_id: str, platform_events: list[dict]) -> None:
    """The EVENT_SINKS entry (registered in TwilioApiConfig.ready)."""
    updated = [
        e["data"]
        for e in platform_events
        if e.get("type") == events.MESSAGE_UPDATED
        and e["data"].get("direction") == "outbound"
        and e["data"].get("status") in CALLBACK_STATUSES
    ]
    received = [
        e["data"]
        for e in platform_events
        if e.get("type") == events.MESSAGE_CREATED and e["data"].get("direction") == "inbound"
    ]
    deliveries: list[CallbackDelivery] = []
    if updated and _may_have(_STATUS_CALLBACKS, workspace_id):
        deliveries += _status_deliveries(workspace_id, updated)
    if received and _may_have(_SMS_URLS, workspace_id):
        deliveries += _incoming_deliveries(workspace_id, received)
    for delivery in deliveries:
        enqueue(delivery.pk)


# Whether a workspace has anything to post. Most never send with a StatusCallback nor set an
# SmsUrl, and every batch their workers published asked for callbacks by message id (12-14% of a
# delivery thread's CPU). A workspace seen with some is remembered in this process: "some" only
# sends the batch on to the exact query, which is right whatever changed since (callbacks deleted,
# an SmsUrl cleared). "None" is never remembered: it is asked again at every batch with one
# indexed EXISTS, so a StatusCallback committed by any process is honoured at its message's very
# next status, here too.
_STATUS_CALLBACKS = (
    "SELECT EXISTS (SELECT 1 FROM twilio_api_messagestatuscallback WHERE workspace_id = %s)",
    set[str](),
)
_SMS_URLS = (
    "SELECT EXISTS (SELECT 1 FROM twilio_api_numberwebhooks WHERE workspace_id = %s AND sms_url <> '')",
    set[str](),
)
MAX_REMEMBERED = 10_000


def _may_have(kind: tuple[str, set[str]], workspace_id: str) -> bool:
    sql, seen = kind
    if workspace_id in seen:
        return True
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id])
        (found,) = cursor.fetchone()
    if found:
        if len(seen) >= MAX_REMEMBERED:
            seen.clear()
        seen.add(workspace_id)
    return found


def _account_sid(workspace_id: str) -> str:
    return Workspace.objects.filter(pk=workspace_id).values_list("account_sid", flat=True).get()


def _status_deliveries(workspace_id: str, updated: list[dict]) -> list[CallbackDelivery]:
    callbacks = dict(
        MessageStatusCallback.objects.filter(
            workspace_id=workspace_id, message_id__in={d["id"] for d in updated}
        ).values_list("message_id", "url")
    )
    if not callbacks:
        return []
    account_sid = _account_sid(workspace_id)
    created = []
    for data in updated:
        url = callbacks.get(data["id"])
        # One post per status, whichever process publishes it first (a message is republished
        # when, say, only its provider_sid changed).
        if url is None or not MessageStatusCallback.objects.filter(pk=data["id"]).exclude(
            last_status=data["status"]
        ).update(last_status=data["status"]):
            continue
        created.append(
            CallbackDelivery.objects.create(
                workspace_id=workspace_id,
                message_id=data["id"],
                kind=CallbackKind.STATUS,
                url=url,
                params=status_params(data, account_sid),
                next_attempt_at=timezone.now(),
            )
        )
    return created


def _incoming_deliveries(workspace_id: str, received: list[dict]) -> list[CallbackDelivery]:
    hooks = {
        h.phone_number.phone_number: h
        for h in NumberWebhooks.objects.filter(
            workspace_id=workspace_id, phone_number__phone_number__in={d["to"] for d in received}
        )
        .exclude(sms_url="")
        .select_related("phone_number")
    }
    if not hooks:
        return []
    account_sid = _account_sid(workspace_id)
    created = []
    for data in received:
        hook = hooks.get(data["to"])
        if hook is None:
            continue
        created.append(
            CallbackDelivery.objects.create(
                workspace_id=workspace_id,
                message_id=data["id"],
                kind=CallbackKind.INCOMING,
                url=hook.sms_url,
                method=hook.sms_method,
                params=incoming_params(data, account_sid),
                next_attempt_at=timezone.now(),
            )
        )
    return created


def enqueue(delivery_id: str) -> None:
    from .tasks import deliver_callback

    try:
        transaction.on_commit(lambda: deliver_callback.delay(delivery_id))
    except Exception:
        logger.exception("Could not enqueue Twilio callback %s; the sweep will", delivery_id)


# Attempts ------------------------------------------------------------------------------------


def retry_delay(attempt: int) -> float:
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    return random.uniform(ceiling * 0.8, ceiling)  # noqa: S311 - jitter, not security


def _request(delivery: CallbackDelivery, token: str | None) -> tuple[int | None, str, bytes]:
    """One bounded request: (status code, error, the first bytes of the answer)."""
    params = {k: str(v) for k, v in delivery.params.items()}
    data: dict[str, str] | None
    url, data = delivery.url, params
    if delivery.method == "GET":  # Twilio signs a GET's full URL, its parameters included
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        url, data = urlunsplit(parts._replace(query=query)), None
    headers = {"User-Agent": USER_AGENT}
    if token:
        headers["X-Twilio-Signature"] = signature(token=token, url=url, params=data or {})
    total = settings.WEBHOOK_TIMEOUT_SECONDS
    timeout = Timeout(connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, read=total, total=total)
    started = time.monotonic()
    try:
        check_public_url(url)  # again: DNS may point elsewhere now
        with requests.request(
            delivery.method,
            url,
            data=data,
            headers=headers,
            timeout=timeout,  # type: ignore[arg-type]  # requests takes a urllib3 Timeout; its stubs do not say so
            allow_redirects=False,
            stream=True,
        ) as response:
            body = b""
            while len(body) < MAX_ANSWER_BYTES and time.monotonic() < started + total:
                chunk = response.raw.read1(MAX_ANSWER_BYTES - len(body))
                if not chunk:
                    break
                body += chunk
            error = "" if 200 <= response.status_code < 300 else f"Answered {response.status_code}."
            return response.status_code, error, body
    except UnsafeUrl as exc:
        return None, f"Refused: {exc}", b""
    except requests.Timeout:
        return None, f"Timed out after {total:g}s.", b""
    except requests.RequestException as exc:
        return None, f"Connection failed: {str(exc)[:300]}", b""


def callback_attempt(*, delivery_id: str) -> CallbackDelivery | None:
    """Claim a due delivery, make the request, record it; a TwiML answer's replies are sent in
    the same transaction that marks it done, so a retried task never replies twice."""
    now = timezone.now()
    claimed = CallbackDelivery.objects.filter(
        pk=delivery_id,
        status=CallbackStatus.PENDING,
        next_attempt_at__lte=now,
    ).update(
        next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    if not claimed:
        return None
    delivery = CallbackDelivery.objects.get(pk=delivery_id)
    token = workspace_signing_token(workspace_id=delivery.workspace_id)
    status_code, error, body = _request(delivery, token)
    delivery.last_status_code, delivery.last_error = status_code, error
    delivery.response_body = body[:1024].decode(errors="replace")
    with transaction.atomic():
        if not error:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                CallbackStatus.SUCCEEDED,
                timezone.now(),
                None,
            )
            if delivery.kind == CallbackKind.INCOMING:
                delivery.last_error = send_twiml_replies(delivery, body)
        elif delivery.attempts >= settings.TWILIO_CALLBACK_MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = CallbackStatus.FAILED, None
        else:
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(delivery.attempts))
        delivery.save()
    if delivery.status == CallbackStatus.FAILED:
        logger.warning("Twilio callback %s to %s failed for good: %s", delivery.pk, delivery.url, error)
    return delivery


def send_twiml_replies(delivery: CallbackDelivery, body: bytes) -> str:
    """Send each `<Message>` of a TwiML answer (to the sender, from our number, unless its `to`
    and `from` attributes say otherwise). Answers what went wrong, if anything, for the log."""
    text = body.strip()
    if not text.startswith(b"<"):
        return ""  # an empty or non-XML answer: nothing to send, as with Twilio
    try:
        root = ElementTree.fromstring(text)
    except Exception as exc:  # malformed XML or an entity attack: defusedxml refuses both
        return f"The answer is not valid TwiML: {str(exc)[:200]}"
    if root.tag != "Response":
        return "The answer is not TwiML: its root element is not <Response>."
    params = delivery.params
    problems = []
    for element in root.findall("Message")[:MAX_REPLIES]:
        body_element = element.find("Body")
        reply = (body_element.text if body_element is not None else element.text) or ""
        media = [m.text.strip() for m in element.findall("Media") if m.text and m.text.strip()]
        try:
            with transaction.atomic():  # a refused reply rolls back alone
                message = sending.message_send(
                    workspace=delivery.workspace,
                    to=element.get("to") or params["From"],
                    body=reply.strip() if body_element is None else reply,
                    media_urls=media,
                    from_number=element.get("from") or params["To"],
                )
        except Exception as exc:  # an opt-out or a bad number refuses this reply, not the rest
            problems.append(f"Reply not sent: {getattr(exc, 'detail', exc)}")
            continue
        if callback := element.get("statusCallback"):
            try:
                check_public_url(callback)
                MessageStatusCallback.objects.create(
                    message=message, workspace=delivery.workspace, url=callback
                )
            except UnsafeUrl as exc:
                problems.append(f"statusCallback refused: {exc}")
    return " ".join(problems)


def sweep_callbacks(*, batch: int = 500) -> int:
    """Enqueue deliveries whose next attempt is due (retries, and tasks lost with a broker)."""
    due = list(
        CallbackDelivery.objects.filter(status=CallbackStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    for delivery_id in due:
        enqueue(delivery_id)
    return len(due)
