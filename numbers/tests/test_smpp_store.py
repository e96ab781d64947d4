"""The bind process's receipt store on the real database: each receipt matched to its part once
(whatever the id's spelling), the message's status changed through the lifecycle once per change
(in order, never backwards; a refused receipt kept as a carrier event with why), unknown ids left
for the caller, and a long message's receipts stored by two batches at once still deciding its
status."""

import threading
import time
from typing import Any, cast

import pytest
from django.db import connection, transaction

from conftest import require_service, uses_postgres
from messaging.models import CarrierEvent, Message, MessageEvent, Status
from numbers.models import ProviderAccount, SmppPart
from numbers.providers.smpp import codec
from numbers.providers.smpp.store import provider_sid_for, record_parts, store_receipts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account(workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    return ProviderAccount.objects.create(
        workspace=workspace,
        provider="smpp",
        auth_token="pw",
        settings={"host": "127.0.0.1", "port": 2775, "system_id": "esme"},
    )


def sent_message(account, smsc_ids, *, to="+14155552671"):
    """A message sent in len(smsc_ids) parts, its parts written as the bind writes them."""
    message = Message.objects.create(
        workspace_id=account.workspace_id,
        direction="outbound",
        status=Status.SENT,
        to_number=to,
        from_number="+12025550188",
        body="hello",
        provider_sid=provider_sid_for(account.pk, smsc_ids[0]),
    )
    record_parts(account, [(message.pk, tuple(enumerate(smsc_ids, start=1)), len(smsc_ids))])
    return message


def receipt(smsc_id, stat="DELIVRD", err="000"):
    return codec.Receipt(smsc_id=smsc_id, stat=stat, error=err), {"receipt": f"id:{smsc_id} stat:{stat}"}


def history_of(message):
    """The message's history rows the receipts wrote: (status, error code)."""
    return list(
        MessageEvent.objects.filter(message_id=message.pk, source="carrier")
        .order_by("created_at", "id")
        .values_list("status", "error_code")
    )


def status_of(message):
    return Message.objects.values_list("status", "error_code").get(pk=message.pk)


def test_parts_are_written_with_every_spelling_of_their_ids(account):
    message = sent_message(account, ["00FF", "255"])
    parts = list(SmppPart.objects.filter(message=message).order_by("index"))
    assert [(p.index, p.total, p.status, p.smsc_id) for p in parts] == [
        (1, 2, "submitted", "00FF"),
        (2, 2, "submitted", "255"),
    ]
    assert (parts[0].id_exact, parts[0].id_as_decimal, parts[0].id_as_hex) == ("ff", "255", None)
    assert (parts[1].id_exact, parts[1].id_as_decimal, parts[1].id_as_hex) == ("255", "597", "ff")


def test_a_batch_of_receipts_matched_once_each(account):
    short = sent_message(account, ["1a2b"], to="+14155550001")
    failed = sent_message(account, ["77"], to="+14155550002")
    answers = store_receipts(
        account,
        [
            receipt("6699"),  # 0x1a2b written in decimal
            receipt("1A2B"),  # the same receipt again, in the same batch
            receipt("77", "UNDELIV", "012"),
            receipt("ffff0000"),  # nobody's
        ],
    )
    assert answers == [codec.ESME_ROK, codec.ESME_ROK, codec.ESME_ROK, None]
    assert status_of(short) == ("delivered", None)
    assert history_of(short) == [("delivered", None)]
    assert Message.objects.get(pk=short.pk).delivered_at is not None
    assert status_of(failed) == ("undelivered", "UNDELIV:012")
    assert history_of(failed) == [("undelivered", "UNDELIV:012")]
    # The SMSC sends them again (our answer lost): acknowledged, nothing new.
    assert store_receipts(account, [receipt("1a2b"), receipt("77", "UNDELIV", "012")]) == [codec.ESME_ROK] * 2
    assert len(history_of(short)) == 1 and len(history_of(failed)) == 1
    # Applied where they arrived: no carrier event for a worker to apply.
    assert not CarrierEvent.objects.exists()


def test_a_long_message_waits_for_its_last_part(account):
    message = sent_message(account, ["a1", "a2", "a3"])
    assert store_receipts(account, [receipt("a1"), receipt("a3")]) == [codec.ESME_ROK] * 2
    assert status_of(message) == ("sent", None) and history_of(message) == []
    store_receipts(account, [receipt("a2")])
    assert status_of(message) == ("delivered", None)
    assert history_of(message) == [("delivered", None)]


def test_a_failed_part_decides_at_once(account):
    message = sent_message(account, ["b1", "b2"])
    store_receipts(account, [receipt("b2", "REJECTD", "009")])
    assert status_of(message) == ("failed", "REJECTD:009")
    # The other part's receipt later: the message never goes back.
    store_receipts(account, [receipt("b1")])
    assert status_of(message) == ("failed", "REJECTD:009")
    assert history_of(message) == [("failed", "REJECTD:009")]


def test_a_receipt_before_its_round_wrote_the_message_sent(account):
    """The round's write-back is late (the receipt waited its SMPP_RECEIPT_WAIT_SECONDS): the
    receipt moves the message from `sending` to delivered with its sid, and the write-back then
    leaves it delivered."""
    from messaging import lifecycle

    message = sent_message(account, ["d1"])
    sid = message.provider_sid
    Message.objects.filter(pk=message.pk).update(status=Status.SENDING, provider_sid=None)
    assert store_receipts(account, [receipt("d1")]) == [codec.ESME_ROK]
    assert Message.objects.values_list("status", "provider_sid").get(pk=message.pk) == ("delivered", sid)
    assert lifecycle.messages_mark_sent([lifecycle.Sent(message.pk, sid)]) == []
    assert status_of(message) == ("delivered", None)


def test_a_receipt_that_stopped_waiting_for_its_round_goes_to_a_worker(account, monkeypatch):
    """Its round's write-back has not come (it holds the message's row): the part takes the
    receipt, the message is left to the write-back, and a worker applies the stored carrier event
    afterwards, as any callback."""
    from messaging.carrier_events import carrier_events_apply_pending

    message = sent_message(account, ["f1"])
    Message.objects.filter(pk=message.pk).update(status=Status.SENDING)
    woken: list[dict] = []  # the worker's wake-up, held back (tasks run eagerly here)
    monkeypatch.setattr("messaging.enqueue.enqueue_carrier_events_apply", lambda **kw: woken.append(kw))
    answers = store_receipts(account, [receipt("F1", "UNDELIV", "011")], unwritten=frozenset({"f1"}))
    assert answers == [codec.ESME_ROK] and woken == [{}]
    assert status_of(message) == ("sending", None)
    [event] = CarrierEvent.objects.filter(message_id=message.pk)
    assert event.processed_at is None and event.params["MessageStatus"] == "undelivered"
    assert (event.params["To"], event.params["From"]) == ("+14155552671", "+12025550188")
    Message.objects.filter(pk=message.pk).update(status=Status.SENT)  # the write-back, at last
    carrier_events_apply_pending()
    assert status_of(message) == ("undelivered", "UNDELIV:011")
    assert history_of(message) == [("undelivered", "UNDELIV:011")]


def test_a_refused_receipt_is_kept_with_why(account):
    """A message the lifecycle will not move (here: scheduled, never handed to the carrier) keeps
    its status; the receipt is kept as a carrier event, processed, with the refusal."""
    message = sent_message(account, ["e1"])
    Message.objects.filter(pk=message.pk).update(status=Status.SCHEDULED)
    assert store_receipts(account, [receipt("e1")]) == [codec.ESME_ROK]
    assert status_of(message) == ("scheduled", None)
    [event] = CarrierEvent.objects.filter(message_id=message.pk)
    assert event.processed_at is not None and "scheduled" in event.error
    assert (event.params["MessageStatus"], event.params["smsc_id"]) == ("delivered", "e1")
    # Sent again by the SMSC: the part is final already, nothing new.
    assert store_receipts(account, [receipt("e1")]) == [codec.ESME_ROK]
    assert CarrierEvent.objects.count() == 1


def test_two_batches_at_once_with_the_two_parts_of_a_message(account):
    """Batch one has moved part 1 and not committed yet when batch two stores part 2's receipt:
    batch two waits for it and sees both parts delivered (neither batch may decide from a part
    the other is changing)."""
    message = sent_message(account, ["c1", "c2"])
    answers = []
    with transaction.atomic():
        with connection.cursor() as cursor:  # batch one, mid-way
            cursor.execute(
                f"UPDATE {SmppPart._meta.db_table} SET status = 'delivered' WHERE message_id = %s "  # noqa: S608
                "AND smsc_id = 'c1'",
                [message.pk],
            )

        def batch_two():
            try:
                answers.append(store_receipts(account, [receipt("c2")]))
            finally:
                connection.close()  # this thread's

        other = threading.Thread(target=batch_two)
        other.start()
        time.sleep(0.5)
        assert answers == []  # waiting for batch one's parts
    other.join(10)
    assert answers == [[codec.ESME_ROK]]
    assert status_of(message) == ("delivered", None)


def test_timestamps_read_by_the_c_loader_are_the_ones_django_reads(account):
    """Every process reads timestamptz with psycopg's C loader (load_timestamps_in_c, when the
    apps are ready): the values, their tzinfo and Django's per-cursor time zone check are as with
    Django's own loader."""
    from django.db.backends.postgresql import base, psycopg_any
    from psycopg import pq

    from messaging_platform.db_timestamps import load_timestamps_in_c

    message = sent_message(account, ["a1"])
    sql = "SELECT created_at, updated_at, sent_at, delivered_at, now() FROM messaging_message WHERE id = %s"
    template = cast(Any, base).get_adapters_template(True, connection.timezone)
    oid = base.TIMESTAMPTZ_OID
    kept = template.get_loader(oid, pq.Format.TEXT)
    assert kept.__name__ == "CTimestamptzLoader"
    try:
        cast(Any, psycopg_any).register_tzloader(connection.timezone, template)  # Django's own
        connection.close()
        with connection.cursor() as cursor:
            assert cursor.adapters.get_loader(oid, pq.Format.TEXT).__name__ != "CTimestamptzLoader"
            cursor.execute(sql, [message.pk])
            django_read = cursor.fetchone()[:4]
        assert load_timestamps_in_c()
        connection.close()
        with connection.cursor() as cursor:
            assert cursor.adapters.get_loader(oid, pq.Format.TEXT).__name__ == "CTimestamptzLoader"
            cursor.execute(sql, [message.pk])
            c_read = cursor.fetchone()
        assert c_read[:4] == django_read
        assert all(v is None or v.tzinfo is connection.timezone for v in c_read)
        assert Message.objects.get(pk=message.pk).created_at == message.created_at
    finally:
        template.register_loader("timestamptz", kept)
        connection.close()


def test_a_receipt_changes_its_part_without_writing_index_entries(account):
    """The parts table keeps half of each page free (numbers 0009): a receipt's change of its part
    is a heap-only update, none of the table's five indexes written (all but the last one or two
    of a page whose parts all change in one transaction: no old version can be pruned yet)."""

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, now
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s",
                [SmppPart._meta.db_table],
            )
            return cursor.fetchone()

    ids = [f"{n:x}0" for n in range(1, 41)]
    for smsc_id in ids:
        sent_message(account, [smsc_id])
    before = updates()
    assert store_receipts(account, [receipt(smsc_id) for smsc_id in ids]) == [codec.ESME_ROK] * len(ids)
    after = updates()
    assert after[0] - before[0] == len(ids)
    assert after[1] - before[1] >= 0.9 * len(ids)
