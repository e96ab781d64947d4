"""The record side of carrier webhooks: verify, store the raw event once, answer. Workers apply
the stored events (messaging.carrier_events).

Nothing here knows a carrier: the adapter verifies the request, reads its events, names their
dedupe key and says what to answer (numbers/providers/base.py describes the contract).

While PostgreSQL is out of reach, a verified event is kept in a Redis stream instead and answered
as usual; `carrier_intake_drain` moves the stream into PostgreSQL once it is back, idempotent by
the dedupe key. When neither can take an event, the carrier gets a 503 with Retry-After.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from messaging_platform.api import credentials
from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import adapter_class, get_provider
from numbers.providers.base import (
    EventKind,
    InboundMessage,
    StatusUpdate,
    WebhookAnswer,
    WebhookRequest,
)
from numbers.webhook_accounts import AccountUnavailable, webhook_account

from . import message_store
from .enqueue import enqueue_carrier_events_apply
from .models import CarrierEvent, Message

logger = logging.getLogger(__name__)

STREAM = "mp:carrier-intake"
DEAD_STREAM = "mp:carrier-intake:unreadable"
RETRY_AFTER_SECONDS = 5
_DATABASE_DOWN = (OperationalError, InterfaceError)


class IntakeRefused(Exception):
    """The request is answered with a 4xx and nothing is stored."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class IntakeUnavailable(Exception):
    """Neither PostgreSQL nor Redis can take the event: the carrier should try again."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class IntakeEvent:
    """One verified event, ready to store: everything a stored CarrierEvent row needs."""

    workspace_id: str
    provider: str
    kind: str
    dedupe_key: str
    provider_sid: str
    payload: dict[str, Any]
    message_id: str = ""  # our message id, when the carrier's request named it (unverified)
    # Inbound only: which of our senders it reached, for the check that it is ours.
    to_number: str = ""
    messaging_service_sid: str = ""

    def as_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))


def without_nul(value: Any) -> Any:
    """The value with NUL characters removed from every string in it: PostgreSQL's text and JSONB
    cannot hold them, and a carrier's payload is kept rather than refused for one."""
    if type(value) is dict and all(
        type(k) is str and type(v) is str and "\x00" not in k and "\x00" not in v for k, v in value.items()
    ):
        return value  # a form's fields without a NUL (every Twilio webhook): one scan, no copy
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def intake_event(
    *, workspace_id: str, provider: str, kind: str, payload: dict[str, Any], message_id: str = ""
) -> IntakeEvent:
    """Read one raw event with its adapter's parse functions; ValueError when it cannot be read."""
    adapter = adapter_class(provider)
    payload = without_nul(payload)
    kind = EventKind(kind)
    parsed: InboundMessage | StatusUpdate
    if kind == EventKind.INBOUND:
        parsed = adapter.parse_inbound(payload)
        extra = {
            "to_number": parsed.to_number[:64],
            "messaging_service_sid": parsed.messaging_service_sid[:64],
        }
    else:
        parsed = adapter.parse_status(payload)
        extra = {}
        message_id = message_id or parsed.message_id
    return IntakeEvent(
        workspace_id=workspace_id,
        provider=provider,
        kind=kind.value,
        dedupe_key=adapter.dedupe_key(kind, payload)[:200],
        provider_sid=parsed.provider_sid[:64],
        payload=payload,
        message_id=without_nul(message_id)[:64],
        **extra,
    )


def _webhook_account(workspace_id: str, provider: str, account_id: str) -> ProviderAccount | None:
    """The account a webhook is verified with (the one its URL names, else the carrier's
    primary-most): cached per process and exact while PostgreSQL answers (the credentials token
    changes with any carrier account or workspace change), else what webhook_account finds in
    the shared cache."""

    def load() -> ProviderAccount | None:
        return webhook_account(workspace_id=workspace_id, provider=provider, account_id=account_id)

    try:
        return credentials.cached("webhook-account", (workspace_id, provider, account_id), load)
    except _DATABASE_DOWN:
        return load()


def webhook_receive(
    *, provider: str, workspace_id: str, route: str, request: WebhookRequest
) -> WebhookAnswer:
    """Verify a carrier's webhook, store its events and say what to answer.

    Raises IntakeRefused (403 bad signature, 404 unknown workspace or target, 400 unreadable) or
    IntakeUnavailable.
    """
    try:
        adapter_cls = adapter_class(provider)
    except KeyError:
        raise IntakeRefused(404, "not_found", "No such carrier.") from None
    if route not in adapter_cls.webhook_routes or "\x00" in workspace_id:
        raise IntakeRefused(404, "not_found", "No such webhook.")
    answer = _receive_one(provider=provider, workspace_id=workspace_id, route=route, request=request)
    if answer is not None:
        return answer
    try:
        account = _webhook_account(workspace_id, provider, str(request.query.get("account") or ""))
    except AccountUnavailable:
        logger.warning(
            "A %s webhook for %s could not be verified: no database, no cache", provider, workspace_id
        )
        raise IntakeUnavailable() from None
    if account is None:
        raise IntakeRefused(404, "not_found", f"No {provider} account for this workspace.")
    adapter = get_provider(account)
    if not adapter.verify_webhook(request):
        logger.warning("Refused a %s webhook for %s: bad signature", provider, workspace_id)
        raise IntakeRefused(403, "forbidden", "Missing or invalid webhook signature.")
    try:
        events = [
            intake_event(
                workspace_id=workspace_id,
                provider=provider,
                kind=received.kind,
                payload=received.payload,
                message_id=received.message_id,
            )
            for received in adapter.read_webhook(route, request)
        ]
    except ValueError as exc:
        raise IntakeRefused(400, "invalid_params", str(exc)) from None
    try:
        for event in events:
            if carrier_event_store(event, account=account, require_target=True) is None:
                logger.info("Duplicate %s event %s", provider, event.dedupe_key)
    except _DATABASE_DOWN:
        _buffer(events)
    return adapter.webhook_answer(route)


def _target_message(event: IntakeEvent) -> Message | None:
    """The workspace's message a status event names: by our id first, else by the carrier's."""
    match = Q(provider_sid=event.provider_sid) if event.provider_sid else Q(pk__in=[])
    if event.message_id:
        match |= Q(pk=event.message_id)
    found = list(Message.objects.filter(match, workspace_id=event.workspace_id)[:2])
    return next((m for m in found if m.pk == event.message_id), found[0] if found else None)


def _workspace_numbers(workspace_id: str, account_pk: int | None) -> frozenset[str]:
    """The workspace's phone numbers that webhooks verified with this account may bring messages
    to (its own and the primary's unassigned ones), cached per process and exact (the
    credentials token)."""

    return credentials.cached(
        "inbound-numbers", (workspace_id, account_pk), lambda: _load_numbers(workspace_id, account_pk)
    )


def _load_numbers(workspace_id: str, account_pk: int | None) -> frozenset[str]:
    numbers = PhoneNumber.objects.filter(workspace_id=workspace_id)
    if account_pk:
        numbers = numbers.filter(Q(account__isnull=True) | Q(account_id=account_pk))
    return frozenset(numbers.values_list("phone_number", flat=True))


def _reaches_us(
    event: IntakeEvent,
    account: ProviderAccount | None,
    numbers: Callable[[str, int | None], frozenset[str]] | None = None,
) -> bool:
    if (
        account is not None
        and account.messaging_service_sid
        and event.messaging_service_sid == account.messaging_service_sid
    ):
        return True
    # Not a number of another of the workspace's carrier accounts (null: the primary's).
    return event.to_number in (numbers or _workspace_numbers)(
        event.workspace_id, account.pk if account is not None else None
    )


def carrier_event_store(
    event: IntakeEvent, *, account: ProviderAccount | None = None, require_target: bool = False
) -> CarrierEvent | None:
    """Store one event and have a worker apply it; None for a duplicate (a carrier's retry).

    With `require_target`, an inbound message to none of the workspace's numbers, or a status of
    none of its messages, is an IntakeRefused 404 (webhooks); without (events drained from the
    stream, whose carrier has long had its answer), it is stored and its apply records why not.
    """
    message = None
    if event.kind == EventKind.STATUS:
        message = _target_message(event)
        if message is None and require_target:
            raise IntakeRefused(404, "not_found", "No message of this workspace matches this callback.")
    elif require_target and not _reaches_us(event, account):
        raise IntakeRefused(404, "not_found", "The To number is not a number of this workspace.")
    stored = CarrierEvent(
        workspace_id=event.workspace_id,
        provider=event.provider,
        kind=event.kind,
        dedupe_key=event.dedupe_key,
        provider_sid=event.provider_sid,
        message=message,
        params=event.payload,
        received_at=timezone.now(),
    )
    try:
        if connection.in_atomic_block:  # the caller's transaction survives a duplicate
            with transaction.atomic():
                inserted = _insert_new(stored)
        else:
            inserted = _insert_new(stored)
    except IntegrityError:  # a workspace deleted meanwhile
        return None
    if not inserted:
        return None
    # One wake-up for however many events arrive while one is pending; workers apply in batches.
    transaction.on_commit(enqueue_carrier_events_apply)
    return stored


def carrier_events_store_many(events: list[IntakeEvent], messages: Sequence[Message | None]) -> int:
    """Store events whose targets the caller already knows (a bind process's receipts:
    `messages[i]` is event i's message) in one INSERT, duplicates skipped, and have a worker
    apply them; answers how many were given."""
    if not events:
        return 0
    CarrierEvent.objects.bulk_create(
        [
            CarrierEvent(
                workspace_id=e.workspace_id,
                provider=e.provider,
                kind=e.kind,
                dedupe_key=e.dedupe_key,
                provider_sid=e.provider_sid,
                message=m,
                params=e.payload,
            )
            for e, m in zip(events, messages, strict=True)
        ],
        ignore_conflicts=True,
    )
    transaction.on_commit(enqueue_carrier_events_apply)
    return len(events)


@functools.cache
def _insert_statement(placeholder: str = "$") -> str:
    fields = CarrierEvent._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(cast(str, f.column)) for f in fields)
    placeholders = ", ".join(f"${n + 1}" if placeholder == "$" else placeholder for n in range(len(fields)))
    table = connection.ops.quote_name(CarrierEvent._meta.db_table)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - our names
        "ON CONFLICT (workspace_id, kind, dedupe_key) DO NOTHING RETURNING 1"
    )


def _insert_new(event: CarrierEvent) -> bool:
    """INSERT the event unless its dedupe key is stored already: one statement, one round trip
    (no BEGIN/COMMIT of its own). True when it was inserted."""
    fields = CarrierEvent._meta.concrete_fields
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    if connection.vendor == "postgresql":
        # Prepared once per connection: planning the INSERT cost about what running it did.
        inserted = bool(message_store.fetch_all(_insert_statement(), params, prepare=True))
    else:
        with connection.cursor() as cursor:
            cursor.execute(_insert_statement("%s"), params)
            inserted = cursor.fetchone() is not None
    if inserted:
        event._state.adding = False
    return inserted


# One webhook, one round trip -------------------------------------------------------------------
#
# A webhook of one event (every Twilio webhook) is verified with the account this process keeps
# for it and stored by one prepared statement that also reads the credentials token and, for a
# status, finds the message it names. The process's accounts and numbers are labelled with the
# token they were loaded under, and the statement stores the event only when that token is still
# the current one: when it is not (a carrier account, number or workspace changed), nothing is
# stored, the process drops what it kept, loads again and verifies again. A refusal (no account,
# a bad signature, an unreadable body, a To number not ours) is answered only once a fresh read
# of the token shows that what decided it is current. So a rotated auth token or a deactivated
# workspace takes effect on the very next webhook, on every process, as on the full path; and
# anything out of the ordinary (several events, PostgreSQL out of reach, no token row) goes the
# full path below, which behaves as before.

_MAX_KEPT = 10_000
_ATTEMPTS = 3
_kept_lock = threading.Lock()
# (the token, what was loaded under it): replaced whole when the token changes.
_kept: list[Any] = [None, {}]


def _token_now() -> str | None:
    rows = message_store.fetch_all("SELECT token FROM api_credentialsversion WHERE id = 1", [], prepare=True)
    return rows[0][0] if rows else None


def _adopt(token: str) -> None:
    with _kept_lock:
        if _kept[0] != token:
            _kept[:] = [token, {}]


def _kept_under(token: str, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """`load()`, or what it answered earlier in this process under this token."""
    kept_token, entries = _kept
    if kept_token == token and key in entries:
        return entries[key]
    value = load()
    with _kept_lock:
        if _kept[0] == token:
            if len(_kept[1]) >= _MAX_KEPT:
                _kept[1] = {}
            _kept[1][key] = value
    return value


def _verifier(token: str, workspace_id: str, provider: str, account_id: str) -> tuple[Any, Any] | None:
    """(account, adapter) of the webhook under this token, or None when there is no account."""

    def load() -> tuple[Any, Any] | None:
        account = webhook_account(
            workspace_id=workspace_id, provider=provider, account_id=account_id, from_cache=False
        )
        return (account, get_provider(account)) if account is not None else None

    return cast(
        "tuple[Any, Any] | None", _kept_under(token, ("account", workspace_id, provider, account_id), load)
    )


def _numbers_under(token: str) -> Callable[[str, int | None], frozenset[str]]:
    def numbers(workspace_id: str, account_pk: int | None) -> frozenset[str]:
        return cast(
            frozenset[str],
            _kept_under(
                token, ("numbers", workspace_id, account_pk), lambda: _load_numbers(workspace_id, account_pk)
            ),
        )

    return numbers


class _Stale(Exception):
    """What decided a refusal was loaded under a token that is no longer current."""

    def __init__(self, token: str | None):
        self.token = token


def _refuse(token: str, refusal: IntakeRefused) -> IntakeRefused:
    """The refusal, once the token it was decided under is confirmed current; else _Stale."""
    now = _token_now()
    if now != token:
        raise _Stale(now)
    return refusal


@functools.cache
def _store_one_statement(with_target: bool) -> str:
    """INSERT one event if the credentials token is the expected one ($1) and, for a status, its
    message is found (by our id $2 first, else the carrier's $3, in workspace $4); answers the
    current token, the message found and whether a row was inserted."""
    quote = connection.ops.quote_name
    fields = [f for f in CarrierEvent._meta.concrete_fields if f.attname != "message_id"]
    columns = ", ".join(quote(cast(str, f.column)) for f in fields)
    values = ", ".join(f"${n + 5}::{f.db_type(connection)}" for n, f in enumerate(fields))
    table = quote(CarrierEvent._meta.db_table)
    messages = quote(Message._meta.db_table)
    id_type = Message._meta.pk.db_type(connection)  # type: ignore[union-attr]
    if with_target:
        target = (
            f"target AS (SELECT id FROM ("  # noqa: S608 - our names
            f"(SELECT id, 0 AS rank FROM {messages} WHERE id = $2::{id_type} AND workspace_id = $4::text) "
            f"UNION ALL (SELECT id, 1 FROM {messages} WHERE provider_sid = $3::text AND $3::text <> '' "
            f"AND workspace_id = $4::text)) found ORDER BY rank LIMIT 1),"
        )
        found = "(SELECT id FROM target)"
        condition = " AND EXISTS (SELECT 1 FROM target)"
    else:
        target = "target AS (SELECT $2::text AS id, $3::text AS sid, $4::text AS ws WHERE false),"
        found = "NULL"
        condition = ""
    return (
        "WITH version AS (SELECT token FROM api_credentialsversion WHERE id = 1), "  # noqa: S608
        f"{target} "
        f"stored AS (INSERT INTO {table} ({columns}, {quote('message_id')}) "
        f"SELECT {values}, {found} "
        f"WHERE (SELECT token FROM version) = $1::text{condition} "
        "ON CONFLICT (workspace_id, kind, dedupe_key) DO NOTHING RETURNING 1) "
        f"SELECT (SELECT token FROM version), {found}, (SELECT count(*) FROM stored)"
    )


# The event's own columns: text the IntakeEvent holds already, which a CharField (or the
# workspace's key, one) stores as it is.
_EVENT_COLUMNS = frozenset({"workspace_id", "provider", "kind", "dedupe_key", "provider_sid"})


@functools.cache
def _row_plan() -> tuple[tuple[str, Any], ...]:
    """How _store_one fills each column of its statement (CarrierEvent's concrete fields but
    message_id, in order), without making a CarrierEvent: ("event", attname) from the event,
    ("field", field) a value its field prepares (the payload, received_at), ("new", field) a
    default made for each row (the id), ("same", value) a default alike for every row, prepared
    once (the processing columns: NULL, '' and 0)."""
    plan: list[tuple[str, Any]] = []
    for field in CarrierEvent._meta.concrete_fields:
        if field.attname == "message_id":
            continue
        if field.attname in _EVENT_COLUMNS:
            plan.append(("event", field.attname))
        elif field.attname in ("params", "received_at"):
            plan.append(("field", field))
        elif field.has_default() and callable(field.default):
            plan.append(("new", field))
        else:
            plan.append(("same", field.get_db_prep_save(field.get_default(), connection)))
    return tuple(plan)


def _row_values(event: IntakeEvent) -> list[Any]:
    """The values of _row_plan's columns for this event, as get_db_prep_save prepares them."""
    values: list[Any] = []
    given = {"params": event.payload, "received_at": timezone.now()}
    for how, what in _row_plan():
        if how == "event":
            values.append(getattr(event, what))
        elif how == "field":
            values.append(what.get_db_prep_save(given[what.attname], connection))
        elif how == "new":
            values.append(what.get_db_prep_save(what.get_default(), connection))
        else:
            values.append(what)
    return values


def _store_one(token: str, event: IntakeEvent) -> tuple[str | None, str | None, bool]:
    """(the current token, the message found, whether the event was stored)."""
    with_target = event.kind == EventKind.STATUS
    params: list[Any] = [token, event.message_id, event.provider_sid, event.workspace_id]
    params += _row_values(event)
    statement = _store_one_statement(with_target)
    try:
        if connection.in_atomic_block:  # the caller's transaction survives a failed insert
            with transaction.atomic():
                rows = message_store.fetch_all(statement, params, prepare=True)
        else:
            rows = message_store.fetch_all(statement, params, prepare=True)
    except IntegrityError:  # a workspace or message deleted meanwhile, as carrier_event_store
        return token, None, False
    current, message_id, inserted = rows[0]
    return current, message_id, bool(inserted)


def _receive_one(
    *, provider: str, workspace_id: str, route: str, request: WebhookRequest
) -> WebhookAnswer | None:
    """webhook_receive's answer through one round trip, or None when the full path must serve it
    (nothing stored then)."""
    if connection.vendor != "postgresql":
        return None
    try:
        token = _kept[0] or _token_now()
        for _ in range(_ATTEMPTS):
            if token is None:
                return None
            _adopt(token)
            try:
                return _verify_and_store(token, provider, workspace_id, route, request)
            except _Stale as stale:
                token = stale.token
    except _DATABASE_DOWN:
        return None
    return None


def _verify_and_store(
    token: str, provider: str, workspace_id: str, route: str, request: WebhookRequest
) -> WebhookAnswer | None:
    found = _verifier(token, workspace_id, provider, str(request.query.get("account") or ""))
    if found is None:
        raise _refuse(token, IntakeRefused(404, "not_found", f"No {provider} account for this workspace."))
    account, adapter = found
    if not adapter.verify_webhook(request):
        refusal = _refuse(token, IntakeRefused(403, "forbidden", "Missing or invalid webhook signature."))
        logger.warning("Refused a %s webhook for %s: bad signature", provider, workspace_id)
        raise refusal
    try:
        received = adapter.read_webhook(route, request)
        if len(received) != 1:
            return None
        event = intake_event(
            workspace_id=workspace_id,
            provider=provider,
            kind=received[0].kind,
            payload=received[0].payload,
            message_id=received[0].message_id,
        )
    except ValueError as exc:
        raise _refuse(token, IntakeRefused(400, "invalid_params", str(exc))) from None
    if event.kind == EventKind.INBOUND and not _reaches_us(event, account, _numbers_under(token)):
        raise _refuse(
            token, IntakeRefused(404, "not_found", "The To number is not a number of this workspace.")
        )
    current, message_id, inserted = _store_one(token, event)
    if current is None:
        return None  # no token row: the full path makes a fresh one
    if current != token:
        raise _Stale(current)
    if event.kind == EventKind.STATUS and message_id is None:
        raise IntakeRefused(404, "not_found", "No message of this workspace matches this callback.")
    if inserted:
        # One wake-up for however many events arrive while one is pending.
        transaction.on_commit(enqueue_carrier_events_apply)
    else:
        logger.info("Duplicate %s event %s", provider, event.dedupe_key)
    return adapter.webhook_answer(route)


# The Redis stream ------------------------------------------------------------------------------


def _redis():
    import redis

    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=settings.REDIS_TIMEOUT,
    )


def _buffer(events: list[IntakeEvent]) -> None:
    import redis

    client = _redis()
    if client is None:
        raise IntakeUnavailable()
    try:
        with client.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(STREAM, {"event": event.as_json()})
            pipe.execute()
    except redis.RedisError:
        logger.error(
            "Carrier events of %s refused: PostgreSQL and Redis are both unavailable",
            events[0].workspace_id if events else "-",
        )
        raise IntakeUnavailable() from None
    finally:
        client.close()
    logger.warning("PostgreSQL unavailable: %d carrier event(s) kept in Redis until it is back", len(events))


def carrier_intake_drain(*, batch: int = 500) -> int:
    """Move events kept in the Redis stream into PostgreSQL; how many were moved. Stops at the
    first database error (still down) and leaves the rest for the next run."""
    client = _redis()
    if client is None:
        return 0
    moved = 0
    try:
        for entry_id, fields in client.xrange(STREAM, count=batch):
            try:
                event = IntakeEvent(**json.loads(fields[b"event"]))
            except (KeyError, TypeError, ValueError):
                logger.error("Unreadable carrier event %s in %s, set aside", entry_id, STREAM)
                client.xadd(DEAD_STREAM, fields)
                client.xdel(STREAM, entry_id)
                continue
            try:
                carrier_event_store(event)
            except _DATABASE_DOWN:
                break
            except Exception:
                logger.exception("Carrier event %s could not be stored, set aside", entry_id)
                client.xadd(DEAD_STREAM, fields)
            # Only once committed: a crash before this stores the event again, a no-op.
            client.xdel(STREAM, entry_id)
            moved += 1
    finally:
        client.close()
    if moved:
        logger.info("Moved %d carrier event(s) from Redis into PostgreSQL", moved)
    return moved
