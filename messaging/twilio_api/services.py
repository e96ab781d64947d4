"""The Twilio-compatible API's use-cases. Sends, cancels and redactions go through the platform's
own services (messaging.sending, messaging.events); only the Twilio-specific extras (a message's
`StatusCallback`, a number's `SmsUrl`) are stored here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from messaging import events, lifecycle, sending
from messaging.models import FINAL_STATUSES, Message
from messaging.segments import MAX_BODY_CHARACTERS
from messaging.send_limits import MAX_MEDIA, MAX_SCHEDULE_AHEAD
from messaging.urlsafety import UnsafeUrl, check_public_url
from messaging_platform.errors import DomainError
from numbers.models import PhoneNumber
from numbers.phone import normalize_e164
from numbers.selectors import require_provider_account
from numbers.services import number_update
from workspaces.models import ApiKey, Workspace

from .errors import TwilioError, invalid, not_found
from .models import MessageStatusCallback, NumberWebhooks
from .resources import id_for

MAX_URL_LENGTH = 2000
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


def _first(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise invalid(
            21609 if name == "StatusCallback" else 20001, f"The '{name}' parameter is not valid text."
        )
    return value


def _checked_url(value: str, *, code: int, name: str) -> str:
    if len(value) > MAX_URL_LENGTH or not value.lower().startswith(("http://", "https://")):
        raise invalid(code, f"The '{name}' URL is not a valid http(s) URL.")
    try:
        check_public_url(value)
    except UnsafeUrl as exc:
        raise invalid(code, f"The '{name}' URL cannot be used: {exc}") from exc
    return value


def _send_at(raw: str | None, schedule_type: str | None) -> datetime | None:
    if schedule_type in (None, ""):
        if raw:
            raise invalid(35111, "SendAt needs ScheduleType=fixed.")
        return None
    if schedule_type != "fixed":
        raise invalid(30400, "ScheduleType must be 'fixed'.")
    if not raw:
        raise invalid(35111, "You must indicate SendAt timestamp if ScheduleType is 'fixed'.")
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise invalid(35114, "SendAt must be an ISO 8601 timestamp, e.g. 2024-01-15T10:30:00Z.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    now = timezone.now()
    if not now < moment <= now + MAX_SCHEDULE_AHEAD:
        raise invalid(35114, "SendAt must be in the future and at most 35 days ahead.")
    return moment


@dataclass(frozen=True)
class CreateParams:
    to: str
    body: str
    media_urls: list[str]
    from_number: str | None
    status_callback: str
    send_at: datetime | None
    validity_seconds: int | None = None


def parse_create_params(*, workspace: Workspace, params: Mapping[str, Any]) -> CreateParams:
    """Twilio's Messages create parameters, checked in Twilio's order and with its error codes."""
    to = _first(params, "To")
    if not to:
        raise invalid(21604, "A 'To' phone number is required.")
    to = normalize_e164(to, field="to")
    from_raw = _first(params, "From") or None
    service_sid = _first(params, "MessagingServiceSid") or None
    if not from_raw and not service_sid:
        raise invalid(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
    if service_sid:
        account = require_provider_account(workspace=workspace)
        if service_sid != account.messaging_service_sid:
            raise invalid(21701, f"The Messaging Service {service_sid} does not exist in this account.")
    from_number = normalize_e164(from_raw, field="from") if from_raw else None
    body = _first(params, "Body") or ""
    if len(body) > MAX_BODY_CHARACTERS:
        raise invalid(21617, "The concatenated message body exceeds the 1600 character limit.")
    media = params.getlist("MediaUrl") if hasattr(params, "getlist") else []
    if len(media) > MAX_MEDIA:
        raise invalid(21623, f"At most {MAX_MEDIA} MediaUrl may be given.")
    media = [_checked_url(url, code=21620, name="MediaUrl") for url in media]
    if not body and not media:
        raise invalid(21602, "Message body is required.")
    callback = _first(params, "StatusCallback") or ""
    if callback:
        callback = _checked_url(callback, code=21609, name="StatusCallback")
    validity = _first(params, "ValidityPeriod")
    if validity and (not validity.isdigit() or not 1 <= int(validity) <= 36000):
        raise invalid(21624, "ValidityPeriod must be between 1 and 36000 seconds.")
    send_at = _send_at(_first(params, "SendAt"), _first(params, "ScheduleType"))
    return CreateParams(
        to=to,
        body=body,
        media_urls=media,
        from_number=from_number,
        status_callback=callback,
        send_at=send_at,
        validity_seconds=int(validity) if validity else None,
    )


@transaction.atomic
def message_create(*, workspace: Workspace, params: CreateParams, api_key: ApiKey | None) -> Message:
    """Send through the platform's send service; a StatusCallback is kept beside the message, in
    the same transaction, so the first status change already finds it."""
    expires_at = None
    if params.validity_seconds:  # counted from when the message may go: now, or its SendAt
        expires_at = (params.send_at or timezone.now()) + timedelta(seconds=params.validity_seconds)
    [message] = sending.message_send_many(
        workspace=workspace,
        api_key=api_key,
        requests=[
            sending.SendRequest(
                to=params.to,
                body=params.body,
                media_urls=params.media_urls,
                from_number=params.from_number,
                scheduled_at=params.send_at,
                expires_at=expires_at,
            )
        ],
    )
    if isinstance(message, DomainError):
        raise message
    if params.status_callback:
        MessageStatusCallback.objects.create(message=message, workspace=workspace, url=params.status_callback)
    return message


def access_message(*, workspace: Workspace, sid: str, path: str) -> Message:
    message_id = id_for(sid, "msg")
    message = Message.objects.for_workspace(workspace).filter(pk=message_id).first() if message_id else None
    if message is None:
        raise not_found(path)
    return message


def message_update(*, message: Message, params: Mapping[str, Any]) -> Message:
    """`Status=canceled` cancels a scheduled message; `Body=` (empty) redacts a finished one."""
    status, body = _first(params, "Status"), _first(params, "Body")
    if status is not None and body is not None:
        raise invalid(30400, "Cancel (Status) and redact (Body) cannot be done at once.")
    if status is not None:
        if status != "canceled":
            raise invalid(30400, "Status can only be set to 'canceled'.")
        return lifecycle.message_cancel(message=message)
    if body is None:
        raise invalid(30400, "Give Status=canceled or an empty Body.")
    if body != "":
        raise invalid(30400, "A message body can only be redacted (set to an empty Body).")
    return message_redact(message=message)


@transaction.atomic
def message_redact(*, message: Message) -> Message:
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.status not in FINAL_STATUSES:
        raise TwilioError(400, 20009, "Cannot redact a message that is still being sent.")
    locked.body, locked.media_urls = "", []
    locked.save(update_fields=["body", "media_urls", "updated_at"])
    events.message_updated(locked)
    return locked


@transaction.atomic
def message_delete(*, message: Message) -> None:
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.status not in FINAL_STATUSES:
        raise TwilioError(400, 20009, "Cannot delete a message that is still being sent.")
    locked.delete()


def _day_bounds(raw: str, name: str) -> tuple[datetime, datetime]:
    try:
        day = parse_date(raw[:10]) if len(raw) >= 10 else None
        moment = parse_datetime(raw) if len(raw) > 10 else None
    except ValueError:
        day = moment = None
    if moment is not None:
        moment = moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
        return moment, moment
    if day is None:
        raise invalid(20001, f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 timestamp.")
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def message_list(*, workspace: Workspace, params: Mapping[str, Any]) -> QuerySet[Any]:
    """The workspace's messages, newest first, with Twilio's filters (To, From, DateSent,
    DateSent<, DateSent>); DateSent is when an outbound message was sent, or an inbound one
    received."""
    messages = Message.objects.for_workspace(workspace).annotate(
        date_sent=Coalesce(F("sent_at"), F("created_at"))
    )
    if to := _first(params, "To"):
        messages = messages.filter(to_number=normalize_e164(to, field="to"))
    if sender := _first(params, "From"):
        messages = messages.filter(from_number=normalize_e164(sender, field="from"))
    if raw := _first(params, "DateSent"):
        start, end = _day_bounds(raw, "DateSent")
        messages = (
            messages.filter(date_sent__gte=start, date_sent__lt=end)
            if start != end
            else messages.filter(date_sent=start)
        )
    if raw := _first(params, "DateSent<"):
        messages = messages.filter(date_sent__lte=_day_bounds(raw, "DateSent<")[1])
    if raw := _first(params, "DateSent>"):
        messages = messages.filter(date_sent__gte=_day_bounds(raw, "DateSent>")[0])
    return messages.order_by("-created_at", "-id")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    page_size: int
    next_token: str | None


def paginate(queryset: QuerySet[Any], *, params: Mapping[str, Any], token_kind: str) -> Page:
    """Twilio's paging: `PageSize` (1-1000), `Page`, and `PageToken` (`PA` + the sid-less id of the
    last row of the previous page) so that a page never repeats or skips rows that arrive while a
    client pages through."""
    size_raw, page_raw, token = (
        _first(params, "PageSize"),
        _first(params, "Page"),
        _first(params, "PageToken"),
    )
    if size_raw and (not size_raw.isdigit() or not 1 <= int(size_raw) <= MAX_PAGE_SIZE):
        raise invalid(20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}.")
    if page_raw and (not page_raw.isdigit() or len(page_raw) > 6):
        raise invalid(20001, "Page must be a non-negative integer.")
    page_size = int(size_raw) if size_raw else DEFAULT_PAGE_SIZE
    page = int(page_raw) if page_raw else 0
    if token:
        last_id = f"{token_kind}_{token[2:]}" if token.startswith("PA") else None
        last = queryset.filter(pk=last_id).values("pk", "created_at").first() if last_id else None
        if last is None:
            raise invalid(20001, "PageToken is not valid for this list.")
        queryset = queryset.filter(
            Q(created_at__lt=last["created_at"]) | Q(created_at=last["created_at"], pk__lt=last["pk"])
        )
        rows = list(queryset[: page_size + 1])
    else:
        rows = list(queryset[page * page_size : (page + 1) * page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_token = "PA" + rows[-1].pk.partition("_")[2] if more and rows else None
    return Page(items=rows, page=page, page_size=page_size, next_token=next_token)


def number_list(*, workspace: Workspace, params: Mapping[str, Any]) -> QuerySet[PhoneNumber]:
    numbers = PhoneNumber.objects.for_workspace(workspace)
    if raw := _first(params, "PhoneNumber"):
        numbers = numbers.filter(phone_number__contains=raw.strip())
    if raw := _first(params, "FriendlyName"):
        numbers = numbers.filter(friendly_name=raw)
    return numbers.select_related("twilio_webhooks").order_by("-created_at", "-id")


def access_number(*, workspace: Workspace, sid: str, path: str) -> PhoneNumber:
    number_id = id_for(sid, "pn")
    number = (
        PhoneNumber.objects.for_workspace(workspace)
        .select_related("twilio_webhooks")
        .filter(pk=number_id)
        .first()
        if number_id
        else None
    )
    if number is None:
        raise not_found(path)
    return number


def webhooks_of(number: PhoneNumber) -> NumberWebhooks | None:
    try:
        return number.twilio_webhooks
    except NumberWebhooks.DoesNotExist:
        return None


METHODS = ("GET", "POST")


@transaction.atomic
def number_configure(*, number: PhoneNumber, params: Mapping[str, Any]) -> PhoneNumber:
    """Update a number's SmsUrl, SmsMethod, StatusCallback, StatusCallbackMethod, FriendlyName."""
    changes: dict[str, str] = {}
    for name, field, is_url in (
        ("SmsUrl", "sms_url", True),
        ("SmsMethod", "sms_method", False),
        ("StatusCallback", "status_callback", True),
        ("StatusCallbackMethod", "status_callback_method", False),
    ):
        value = _first(params, name)
        if value is None:
            continue
        if is_url and value:
            value = _checked_url(value, code=21402 if name == "SmsUrl" else 21609, name=name)
        if not is_url:
            value = value.upper()
            if value not in METHODS:
                raise invalid(21403 if name == "SmsMethod" else 20001, f"{name} must be GET or POST.")
        changes[field] = value
    friendly = _first(params, "FriendlyName")
    if friendly is not None and len(friendly) > 64:
        raise invalid(20001, "FriendlyName must be at most 64 characters.")
    if changes:
        webhooks, _ = NumberWebhooks.objects.get_or_create(
            phone_number=number, defaults={"workspace": number.workspace}
        )
        for field, value in changes.items():
            setattr(webhooks, field, value)
        webhooks.save()
    if friendly is not None:
        number = number_update(number=number, friendly_name=friendly)
    return PhoneNumber.objects.select_related("twilio_webhooks").get(pk=number.pk)
