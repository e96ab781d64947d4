"""The SMPP adapter's database side: the parts of each sent message (to match receipts to), the
receipts applied to their parts and messages, MO messages stored as carrier events, and failover
when no bind can be made.

The delivery engine's rounds call `prepare_sends` before a round's submits (in at-most-once mode
the parts are written as `submitting` first, so that a crash leaves the evidence) and
`record_sends` inside the round's write-back; the bind writes the answered parts with the SMSC's
ids while the round goes on (`record_parts`, every few milliseconds). Receipts are applied to
parts and, through the lifecycle, to their messages in batches by the bind process's database
threads.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections, transaction
from django.utils import timezone

from messaging_platform.ids import new_ids
from numbers.models import ProviderAccount, SmppInboundPart, SmppPart, SmppPartStatus
from numbers.providers.base import PermanentProviderError, SendResult

from . import codec
from .provider import AT_MOST_ONCE

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

UNKNOWN_OUTCOME = "smpp_unknown"

PartState = tuple[str, str | None, str | None]  # status, error code, error message


def aggregate_status(parts: list[PartState]) -> PartState | tuple[None, None, None]:
    """A message's status from its parts' (status, error_code, error_message): the first failed
    or undelivered part decides; delivered once every part is; otherwise nothing new (None)."""
    for status, code, message in parts:
        if status in (SmppPartStatus.FAILED, SmppPartStatus.UNDELIVERED):
            return status, code, message
    if parts and all(status == SmppPartStatus.DELIVERED for status, _, _ in parts):
        return "delivered", None, None
    return None, None, None


def provider_sid_for(account_id: int, first_smsc_id: str) -> str:
    """The message's provider_sid: unique on the installation although two SMSCs may hand out the
    same ids."""
    return f"smpp-{account_id}-{first_smsc_id}"[:64]


def at_most_once(account: ProviderAccount) -> bool:
    return (account.settings or {}).get("uncertain_submits") == AT_MOST_ONCE


def db_job(function: Callable[..., _T], *args: Any) -> _T:
    """Run on a database thread of the bind process, which keeps its connection for as long as
    it works (connecting per job would cost more than most jobs): one that failed and no longer
    answers, or is past a positive CONN_MAX_AGE, is replaced."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.connection is not None:
        if connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
        elif connection.settings_dict.get("CONN_MAX_AGE"):
            close_old_connections()
    return function(*args)


# A round's sends -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Earlier:
    message_id: str
    status: str
    smsc_id: str
    total: int


def _earlier_parts(message_ids: list[str]) -> list[_Earlier]:
    """The parts already written for these messages (most rounds: none), in index order, in one
    statement with one parameter on PostgreSQL (a round claims hundreds)."""
    if not message_ids:
        return []
    index = connection.ops.quote_name("index")
    params: list[Any]
    if connection.vendor == "postgresql":
        where, params = "message_id = ANY(%s)", [message_ids]
    else:
        where, params = f"message_id IN ({_in(message_ids)})", list(message_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT message_id, status, smsc_id, total FROM {_PARTS} WHERE {where} ORDER BY {index}",  # noqa: S608
            params,
        )
        return [_Earlier(*row) for row in cursor.fetchall()]


def prepare_sends(account: ProviderAccount, messages: list[Any]) -> dict[str, Exception | SendResult]:
    """Before a round submits these claimed messages (in the engine's transaction, committed
    before the submits). A message claimed again after a crash: if every part of it was answered
    by the SMSC (written by `record_parts`), the SMSC has it and it is not sent again; if parts
    were left `submitting` (written, never answered) its outcome is unknown: in at-most-once mode
    it ends failed, in at-least-once mode it is sent again."""
    once = at_most_once(account)
    decided: dict[str, Exception | SendResult] = {}
    earlier: dict[str, list[_Earlier]] = {}
    for part in _earlier_parts([m.pk for m in messages]):
        earlier.setdefault(part.message_id, []).append(part)
    again = {m.pk for m in messages if m.attempts > 1}  # not a first claim (nor an operator's resend)
    doubtful = []
    for message_id, parts in earlier.items():
        answered = [
            p for p in parts if p.smsc_id and p.status in (SmppPartStatus.SUBMITTED, SmppPartStatus.DELIVERED)
        ]
        if message_id in again and answered and len(answered) == parts[0].total == len(parts):
            decided[message_id] = SendResult(provider_sid_for(account.pk, answered[0].smsc_id), "sent")
            continue
        doubtful.append(message_id)
        if once and any(p.status == SmppPartStatus.SUBMITTING for p in parts):
            decided[message_id] = PermanentProviderError(
                "The bind was lost before the SMSC answered; the account sends such messages at "
                "most once, so it was not sent again.",
                code=UNKNOWN_OUTCOME,
            )
    if doubtful:
        SmppPart.objects.filter(message_id__in=doubtful).delete()
    return decided


def record_parts(
    account: ProviderAccount,
    answered: list[tuple[str, tuple[tuple[int, str], ...], int]],
    submitting: Sequence[tuple[str, int]] = (),
) -> None:
    """In one transaction while their rounds go on: messages every part of which the SMSC
    answered ((message id, ((index, smsc id), …), total)), so that receipts can be matched to
    them and a crash before the round's write-back does not send them again (prepare_sends);
    and, in at-most-once mode, the parts of messages about to be submitted ((message id, total))
    as `submitting`, the evidence a crash leaves."""
    with transaction.atomic():
        if at_most_once(account) and answered:  # their `submitting` rows
            SmppPart.objects.filter(message_id__in=[m for m, _, _ in answered]).delete()
        rows: list[tuple[Any, ...]] = [
            (message_id, index, total, SmppPartStatus.SUBMITTING, "", None, None, None)
            for message_id, total in submitting
            for index in range(1, total + 1)
        ]
        rows += [
            (message_id, index, total, SmppPartStatus.SUBMITTED, smsc_id, *codec.id_forms(smsc_id))
            for message_id, parts, total in answered
            for index, smsc_id in parts
        ]
        _insert_parts(account, rows)


_PART_ROW = ("message_id", "index", "total", "status", "smsc_id", "id_exact", "id_as_decimal", "id_as_hex")


def _insert_parts(account: ProviderAccount, rows: list[tuple[Any, ...]]) -> None:
    """Parts ((message id, index, total, status, smsc id, its three forms)) in one INSERT with
    one JSON parameter on PostgreSQL (no model instances)."""
    if not rows:
        return
    now = timezone.now()
    if connection.vendor != "postgresql":
        SmppPart.objects.bulk_create(
            [SmppPart(account=account, **dict(zip(_PART_ROW, row, strict=True))) for row in rows]
        )
        return
    columns = [
        ("message_id", "text"),
        ("index", "smallint"),
        ("total", "smallint"),
        ("status", "text"),
        ("smsc_id", "text"),
        ("id_exact", "text"),
        ("id_as_decimal", "text"),
        ("id_as_hex", "text"),
    ]
    source, params = _json_source(columns, rows)
    names = ", ".join(connection.ops.quote_name(name) for name, _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_PARTS} (account_id, created_at, {names}) "  # noqa: S608
            f"SELECT %s, %s, {names} FROM ({source}) AS parts",
            [account.pk, connection.ops.adapt_datetimefield_value(now), *params],
        )


def record_sends(account: ProviderAccount, unsent_ids: list[str]) -> None:
    """Inside the round's write-back: in at-most-once mode, the `submitting` parts of messages
    that did not go are dropped (they were never sent, or ended failed)."""
    if unsent_ids and at_most_once(account):
        SmppPart.objects.filter(message_id__in=unsent_ids, status=SmppPartStatus.SUBMITTING).delete()


def failover_items(account: ProviderAccount, refused: list[tuple[Any, str | None, str]]) -> list[Any]:
    """Messages the account definitely did not take ((message, code, reason)) onto their fallback
    accounts, from those accounts' senders; those without a fallback that can take them are left
    out."""
    from messaging import lifecycle
    from numbers.routing import failover_targets

    targets = failover_targets(m.fallback_account_id for m, _, _ in refused if m.fallback_account_id)
    items = []
    for message, code, reason in refused:
        target = targets.get(message.fallback_account_id)
        if target is None:
            continue
        fallback, from_number, service_sid = target
        items.append(
            lifecycle.FailOver(
                message.pk,
                fallback.pk,
                from_number,
                service_sid,
                (code or "not_taken")[:16],
                f"smpp did not take it ({reason}); failed over to carrier account {fallback.uid} "
                f"({fallback.provider}).",
            )
        )
    return items


def _fail_over(items: list[Any]) -> None:
    """Through the lifecycle; the fallback's runners are woken for them after commit (a fallback
    that is another bind claims them from the table itself)."""
    from messaging import lifecycle, wakeup

    moved = lifecycle.messages_fail_over(items)
    if moved:
        ids = [m.pk for m in moved]
        transaction.on_commit(lambda: wakeup.wake(message_ids=ids))


def fail_over_unbound(account: ProviderAccount, reason: str) -> int:
    """The bind could not be made: the account's due messages that have a fallback account go to
    it (nothing of them reached this SMSC); answers how many."""
    from messaging import lifecycle

    moved = 0
    while True:
        with transaction.atomic():
            claimed = lifecycle.messages_claim_due(
                limit=settings.SMPP_BATCH_SIZE, account_ids=[account.pk], with_fallback=True, announce=False
            )
            if not claimed:
                return moved
            items = failover_items(account, [(m, "smpp_unreachable", reason) for m in claimed])
            going = {item.message_id for item in items}
            _fail_over(items)
            # No fallback that can take them: back as they were, waiting for the bind.
            stay = [
                lifecycle.WaitForSlot(m.pk, time.time() + settings.SMPP_RECONNECT_MAX_SECONDS)
                for m in claimed
                if m.pk not in going
            ]
            lifecycle.messages_wait_for_slot(stay, announced=False)
            moved += len(items)
            if len(claimed) < settings.SMPP_BATCH_SIZE:
                return moved


_PARTS = SmppPart._meta.db_table


@dataclass(slots=True)
class _Part:
    """A part a receipt names (or a sibling of one): read in one statement, no model instances."""

    pk: int
    message_id: str
    index: int
    total: int
    status: str
    smsc_id: str
    id_exact: str | None
    id_as_decimal: str | None
    id_as_hex: str | None
    error_code: str | None
    error_message: str | None


def _in(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _find_parts(account: ProviderAccount, smsc_ids: list[str]) -> tuple[dict[str, _Part], list[_Part]]:
    """The parts these receipt ids name, in one statement: by the id as the SMSC gave it (the
    newest such part), else by its other spelling (hex read as decimal, or the reverse); and every
    part of the long messages among them, so that a message's status is decided from all its
    parts. All of them locked (in id order: two batches never wait on each other crosswise), the
    message rows not (the lifecycle locks those it changes)."""
    exacts = sorted({codec.id_forms(smsc_id)[0] for smsc_id in smsc_ids})
    index = connection.ops.quote_name("index")
    lock = " FOR UPDATE OF p" if connection.features.has_select_for_update_of else ""
    names = _in(exacts)
    sql = (
        f"WITH hit AS (SELECT id, message_id, total FROM {_PARTS} WHERE account_id = %s AND "  # noqa: S608
        f"(id_exact IN ({names}) OR id_as_decimal IN ({names}) OR id_as_hex IN ({names}))) "
        f"SELECT p.id, p.message_id, p.{index}, p.total, p.status, p.smsc_id, p.id_exact, "
        f"p.id_as_decimal, p.id_as_hex, p.error_code, p.error_message FROM {_PARTS} p "
        f"WHERE p.id IN (SELECT id FROM hit UNION SELECT s.id FROM {_PARTS} s JOIN hit h "
        f"ON s.message_id = h.message_id WHERE h.total > 1) ORDER BY p.id{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account.pk, *exacts, *exacts, *exacts])
        rows = [_Part(*row) for row in cursor.fetchall()]
    wanted = set(exacts)
    by_exact: dict[str, _Part] = {}
    by_other: dict[str, _Part] = {}
    for part in rows:  # oldest first: the newest of each id wins
        if part.id_exact in wanted:
            by_exact[part.id_exact] = part
        for other in (part.id_as_decimal, part.id_as_hex):
            if other in wanted:
                by_other[other] = part
    found = {exact: by_exact.get(exact) or by_other.get(exact) for exact in exacts}
    return {exact: part for exact, part in found.items() if part is not None}, rows


def _numbers_of(message_ids: list[str]) -> dict[str, tuple[str, str]]:
    """(to, from) of these messages (the few whose receipts were refused)."""
    from messaging.models import Message

    if not message_ids:
        return {}
    rows = Message.objects.filter(pk__in=message_ids).values_list("pk", "to_number", "from_number")
    return {pk: (to, sender) for pk, to, sender in rows}


def _update_parts(parts: list[_Part], now: datetime) -> None:
    """One UPDATE per distinct outcome (a batch's receipts mostly say the same)."""
    by_outcome: dict[tuple[Any, ...], list[int]] = {}
    for part in parts:
        by_outcome.setdefault((part.status, part.error_code, part.error_message), []).append(part.pk)
    with connection.cursor() as cursor:
        for (status, code, text), ids in by_outcome.items():
            cursor.execute(
                f"UPDATE {_PARTS} SET status = %s, error_code = %s, error_message = %s, "  # noqa: S608
                f"receipt_at = %s WHERE id IN ({_in(ids)})",
                [status, code, text, connection.ops.adapt_datetimefield_value(now), *ids],
            )


def _json_source(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> tuple[str, list[str]]:
    """PostgreSQL: `SELECT … FROM json_to_recordset(%s)` of these rows ((name, SQL type) columns)
    and its one parameter: a batch as one JSON text, not a placeholder per value (the driver
    quotes each placeholder in Python)."""
    names = [name for name, _ in columns]
    definition = ", ".join(f"{connection.ops.quote_name(name)} {kind}" for name, kind in columns)
    data = orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode()
    return f"SELECT * FROM json_to_recordset(%s::json) AS r({definition})", [data]  # noqa: S608


@functools.cache
def _event_columns() -> tuple[tuple[tuple[str, str], ...], tuple[Any, ...]]:
    """The carrier event table's columns ((name, SQL type)) and each one's default value, for
    the columns a receipt's event does not set."""
    from messaging.models import CarrierEvent

    columns, defaults = [], []
    for field in CarrierEvent._meta.concrete_fields:
        columns.append((cast(str, field.column), cast(str, field.db_type(connection))))
        defaults.append(None if field.primary_key or field.null else field.get_default())
    return tuple(columns), tuple(defaults)


def _store_events(events: list[tuple[Any, str | None]], now: datetime) -> None:
    """Receipts kept as carrier events ((event, refusal)), in one INSERT (one JSON parameter),
    duplicates skipped: with a refusal, already processed with it, as a worker applying it would
    have left it; without, for a worker to apply (woken after commit)."""
    from messaging.enqueue import enqueue_carrier_events_apply
    from messaging.models import CarrierEvent

    if not events:
        return
    if any(refusal is None for _, refusal in events):
        transaction.on_commit(enqueue_carrier_events_apply)
    if connection.vendor != "postgresql":
        CarrierEvent.objects.bulk_create(
            [
                CarrierEvent(
                    workspace_id=e.workspace_id,
                    provider=e.provider,
                    kind=e.kind,
                    dedupe_key=e.dedupe_key,
                    provider_sid=e.provider_sid,
                    message_id=e.message_id or None,
                    params=e.payload,
                    processed_at=None if refusal is None else now,
                    error=(refusal or "")[:1000],
                )
                for e, refusal in events
            ],
            ignore_conflicts=True,
        )
        return
    columns, defaults = _event_columns()
    ids = iter(new_ids(CarrierEvent._meta.pk.prefix, len(events)))  # type: ignore[attr-defined]
    rows = []
    for event, refusal in events:
        given = {
            "id": next(ids),
            "workspace_id": event.workspace_id,
            "provider": event.provider,
            "kind": event.kind,
            "dedupe_key": event.dedupe_key,
            "provider_sid": event.provider_sid,
            "message_id": event.message_id or None,
            "params": event.payload,
            "received_at": now,
        }
        if refusal is not None:
            given.update(processed_at=now, error=refusal[:1000])
        rows.append([given.get(name, default) for (name, _), default in zip(columns, defaults, strict=True)])
    source, params = _json_source(columns, rows)
    names = ", ".join(connection.ops.quote_name(name) for name, _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CarrierEvent._meta.db_table} ({names}) {source} ON CONFLICT DO NOTHING",  # noqa: S608
            params,
        )


@dataclass(slots=True)
class _Decided:
    """A message's new status from a receipt of the batch, as a carrier would report it."""

    part: _Part
    receipt: codec.Receipt
    raw: dict[str, Any]
    report: Any  # lifecycle.StatusReport

    def event(self, account: ProviderAccount, numbers: tuple[str, str]) -> Any:
        """The receipt as a carrier event (the raw receipt beside the status)."""
        from messaging.carrier_intake import intake_event

        part, receipt, report = self.part, self.receipt, self.report
        params = {
            "MessageSid": report.provider_sid,
            "MessageStatus": report.status,
            "ErrorCode": report.error_code or "",
            "ErrorMessage": report.error_message or "",
            "To": numbers[0],
            "From": numbers[1],
            "smsc_id": receipt.smsc_id,
            "stat": receipt.stat,
            "err": receipt.error,
            "part": f"{part.index}/{part.total}",
            **self.raw,
        }
        return intake_event(
            workspace_id=account.workspace_id,
            provider="smpp",
            kind="status",
            payload=params,
            message_id=part.message_id,
        )


def store_receipts(
    account: ProviderAccount,
    receipts: list[tuple[codec.Receipt, dict[str, Any]]],
    *,
    unwritten: frozenset[str] = frozenset(),
) -> list[int | None]:
    """Apply a batch of receipts to their parts and, for each message whose aggregate status
    changes, that status to the message through the lifecycle (messages_apply_statuses: in status
    order, never backwards), in one transaction whatever the batch's size: the parts read and
    locked, the parts updated, the messages locked and updated, their history rows. A receipt the
    lifecycle refuses is kept as a carrier event with the refusal. `unwritten`: receipt ids (as
    id_forms gives them first) whose round has not written its messages back (the receipt waited
    SMPP_RECEIPT_WAIT_SECONDS for it): their messages' rows are the write-back's to lock, so their
    statuses are stored as carrier events for a worker to apply, as any callback. Answers each
    receipt's deliver_sm_resp status, None for an unknown id."""
    from messaging import lifecycle

    answers: list[int | None] = []
    now = timezone.now()
    with transaction.atomic():
        found, rows = _find_parts(account, [receipt.smsc_id for receipt, _ in receipts])
        changed: dict[int, _Part] = {}
        moved = []  # (part, receipt, raw) whose receipt moved the part
        for receipt, raw in receipts:
            part = found.get(codec.id_forms(receipt.smsc_id)[0])
            if part is None:
                answers.append(None)  # not (yet) known: the caller decides
                continue
            answers.append(codec.ESME_ROK)
            if receipt.status is None or part.status != SmppPartStatus.SUBMITTED:
                continue  # an intermediate state, or a repeated receipt
            part.status, part.error_code, part.error_message = (
                receipt.status,
                receipt.error_code,
                receipt.error_message,
            )
            changed[part.pk] = part
            moved.append((part, receipt, raw))
        if not changed:
            return answers
        _update_parts(list(changed.values()), now)
        siblings: dict[str, list[_Part]] = {}
        for row in rows:  # in id order: a long message's parts are written in index order
            if row.total > 1:
                siblings.setdefault(row.message_id, []).append(row)
        for group in siblings.values():
            group.sort(key=lambda p: p.index)
        decided: list[_Decided] = []
        late: list[_Decided] = []
        told = set()
        for part, receipt, raw in moved:
            group = siblings.get(part.message_id, [part])
            status, code, text = aggregate_status([(p.status, p.error_code, p.error_message) for p in group])
            if status is None or (part.message_id, status) in told:
                continue
            told.add((part.message_id, status))
            # The sid its round gives it (it may not have written it yet); the lifecycle refuses
            # the report if the message holds another.
            sid = provider_sid_for(account.pk, group[0].smsc_id)
            report = lifecycle.StatusReport(part.message_id, status, code or None, text or None, sid)
            waiting = codec.id_forms(receipt.smsc_id)[0] in unwritten  # its whole round's parts
            (late if waiting else decided).append(_Decided(part, receipt, raw, report))
        outcome = lifecycle.messages_apply_statuses([d.report for d in decided], source="carrier")
        kept: list[tuple[_Decided, str | None]] = [(decided[i], why) for i, why in outcome.refused.items()]
        for item, why in kept:
            logger.warning("SMPP receipt %r (account %s) refused: %s", item.receipt.smsc_id, account.pk, why)
        kept += [(item, None) for item in late]
        numbers = _numbers_of([item.part.message_id for item, _ in kept])
        _store_events(
            [(item.event(account, numbers.get(item.part.message_id, ("", ""))), why) for item, why in kept],
            now,
        )
    return answers


def store_inbound(account: ProviderAccount, fields: dict[str, Any]) -> int:
    """An MO message (or one part of it): recorded as an inbound carrier event once complete."""
    from messaging.carrier_intake import carrier_event_store, intake_event

    source, destination = fields["source"], fields["destination"]
    concat = fields.get("concatenation")
    with transaction.atomic():
        if concat is None:
            body = fields["text"]
        else:
            SmppInboundPart.objects.get_or_create(
                account=account,
                source=source,
                destination=destination,
                reference=concat.reference,
                total=concat.total,
                index=concat.index,
                defaults={"text": fields["text"]},
            )
            siblings = list(
                SmppInboundPart.objects.select_for_update()
                .filter(
                    account=account,
                    source=source,
                    destination=destination,
                    reference=concat.reference,
                    total=concat.total,
                )
                .order_by("index")
            )
            if len(siblings) < concat.total:
                return codec.ESME_ROK  # kept until the other parts arrive
            body = "".join(part.text for part in siblings)
            SmppInboundPart.objects.filter(pk__in=[part.pk for part in siblings]).delete()
        params = {
            "MessageSid": "SMPP" + uuid.uuid4().hex,
            "From": source,
            "To": destination,
            "Body": body,
            "NumMedia": "0",
        }
        carrier_event_store(
            intake_event(workspace_id=account.workspace_id, provider="smpp", kind="inbound", payload=params)
        )
    return codec.ESME_ROK


def expire_inbound_parts(*, now: datetime | None = None) -> int:
    """MO messages whose parts stopped arriving: once the first part is SMPP_MO_PARTS_MAX_AGE_SECONDS
    old, what arrived is taken in as one inbound message (a missing part shown as "…"), so that
    no text the handset sent is lost, and the parts are dropped. Answers how many messages."""
    from messaging.carrier_intake import carrier_event_store, intake_event

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SMPP_MO_PARTS_MAX_AGE_SECONDS)
    stale = (
        SmppInboundPart.objects.filter(received_at__lt=cutoff)
        .values_list("account_id", "source", "destination", "reference", "total")
        .distinct()
    )
    taken = 0
    for account_id, source, destination, reference, total in stale[:1000]:
        with transaction.atomic():
            parts = list(
                SmppInboundPart.objects.select_for_update()
                .select_related("account")
                .filter(
                    account_id=account_id,
                    source=source,
                    destination=destination,
                    reference=reference,
                    total=total,
                )
                .order_by("index")
            )
            if not parts:
                continue  # completed or taken by another run meanwhile
            texts = {part.index: part.text for part in parts}
            body = "".join(texts.get(index, " … ") for index in range(1, total + 1)).strip()
            params = {
                "MessageSid": "SMPP" + uuid.uuid4().hex,
                "From": source,
                "To": destination,
                "Body": body,
                "NumMedia": "0",
            }
            carrier_event_store(
                intake_event(
                    workspace_id=parts[0].account.workspace_id,
                    provider="smpp",
                    kind="inbound",
                    payload=params,
                )
            )
            SmppInboundPart.objects.filter(pk__in=[part.pk for part in parts]).delete()
        logger.warning(
            "SMPP MO message %s→%s (ref %s): %d of %d parts arrived; taken in as it is",
            source,
            destination,
            reference,
            len(parts),
            total,
        )
        taken += 1
    return taken
