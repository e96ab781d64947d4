"""The bind manager against the fake SMSC over loopback, on the real database: messages queued
through the API go out as submit_sm, receipts bring them to their final status, MO messages
arrive in the inbox; throttling, dropped binds and bad input change nothing they should not."""

import threading

import pytest

from conftest import require_service, uses_postgres
from messaging.models import CarrierEvent, Direction, Message, MessageEvent, Status
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SENDER, SMPP_SYSTEM_ID
from messaging_platform.testing.processes import wait_until
from numbers.models import PhoneNumber, ProviderAccount, SmppInboundPart, SmppPart
from numbers.providers.smpp import codec
from numbers.providers.smpp.binds import BindManager

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = "+14155552671"
LONG_BODY = "Your order has shipped. " * 12  # 288 GSM-7 characters: 2 parts


@pytest.fixture
def smpp_settings(settings):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    settings.SMPP_POLL_SECONDS = 0.02
    settings.SMPP_WRITE_DELAY_SECONDS = 0.005
    settings.SMPP_RECONNECT_MIN_SECONDS = 0.1
    settings.SMPP_RECONNECT_MAX_SECONDS = 0.4
    settings.SMPP_THROTTLE_PAUSE_SECONDS = 0.05
    settings.SMPP_RESPONSE_TIMEOUT_SECONDS = 2
    settings.SMPP_ACCOUNTS_REFRESH_SECONDS = 0.2
    return settings


@pytest.fixture
def smpp_account(smpp_settings, fake_smsc, workspace):
    PhoneNumber.objects.create(workspace=workspace, phone_number=SMPP_SENDER, is_default=True)
    return ProviderAccount.objects.create(
        workspace=workspace,
        provider="smpp",
        auth_token=SMPP_PASSWORD,
        settings={"host": "127.0.0.1", "port": fake_smsc.port, "system_id": SMPP_SYSTEM_ID},
    )


@pytest.fixture
def binds(smpp_account):
    manager = BindManager(account_ids=[smpp_account.pk])
    thread = threading.Thread(target=manager.run_forever, daemon=True)
    thread.start()
    yield manager
    manager.stop()
    thread.join(10)
    assert not thread.is_alive()


def send(api_client, body: str = "Hello over SMPP", to: str = CONTACT) -> str:
    response = api_client.post("/api/messages", {"to": to, "body": body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def statuses(*ids: str) -> list[str]:
    by_id = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[i] for i in ids]


def wait_status(message_ids, status, timeout=15):
    wait_until(
        lambda: all(s == status for s in statuses(*message_ids)), timeout=timeout, what=f"messages {status}"
    )


def test_sent_then_delivered_by_receipt(api_client, fake_smsc, binds):
    message_id = send(api_client)
    wait_status([message_id], Status.DELIVERED)
    [part] = fake_smsc.parts
    assert (part.source_addr, part.destination_addr, part.text) == (
        "12025550188",
        "14155552671",
        "Hello over SMPP",
    )
    assert part.registered_delivery == 1
    message = Message.objects.get(pk=message_id)
    assert message.provider_sid.endswith(part.smsc_id)
    assert list(MessageEvent.objects.filter(message=message).values_list("status", flat=True)) == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]
    assert fake_smsc.binds == [(SMPP_SYSTEM_ID, "bind_transceiver", "")]


@pytest.mark.parametrize(
    ("submit_format", "receipt_format", "style"),
    [
        ("hex", "decimal", "text"),
        ("decimal", "hex", "tlv"),
        ("hex", "same", "both"),
        ("decimal", "same", "text"),
    ],
)
def test_receipts_match_whatever_the_id_format(
    api_client, fake_smsc, binds, submit_format, receipt_format, style
):
    fake_smsc.id_format, fake_smsc.receipt_id_format = submit_format, receipt_format
    fake_smsc.receipt_style = style
    ids = [send(api_client, f"message {n}") for n in range(5)]
    wait_status(ids, Status.DELIVERED)


def test_receipts_out_of_order_and_failures(api_client, fake_smsc, binds):
    fake_smsc.hold_receipts = True
    fake_smsc.set_outcome("+14155552672", "UNDELIV", "011")
    fake_smsc.set_outcome("+14155552673", "EXPIRED")
    fake_smsc.set_outcome("+14155552674", "REJECTD")
    delivered = send(api_client, to=CONTACT)
    undelivered = send(api_client, to="+14155552672")
    expired = send(api_client, to="+14155552673")
    rejected = send(api_client, to="+14155552674")
    ids = [delivered, undelivered, expired, rejected]
    wait_status(ids, Status.SENT)
    fake_smsc.release_receipts("reverse")
    wait_until(
        lambda: statuses(*ids) == ["delivered", "undelivered", "undelivered", "failed"],
        timeout=15,
        what="final statuses",
    )
    codes = dict(Message.objects.filter(pk__in=ids).values_list("pk", "error_code"))
    assert codes == {delivered: None, undelivered: "UNDELIV:011", expired: "EXPIRED", rejected: "REJECTD"}


def test_long_message_parts_and_their_receipts(api_client, fake_smsc, binds):
    fake_smsc.hold_receipts = True
    message_id = send(api_client, LONG_BODY)
    wait_status([message_id], Status.SENT)
    assert len(fake_smsc.parts) == 2 == Message.objects.get(pk=message_id).num_segments
    first, second = fake_smsc.parts
    assert first.concatenation.total == 2
    assert {first.concatenation.index, second.concatenation.index} == {1, 2}
    assert first.concatenation.reference == second.concatenation.reference
    ordered = sorted(fake_smsc.parts, key=lambda p: p.concatenation.index)
    assert "".join(p.text for p in ordered) == LONG_BODY
    # One part's receipt is not the message's: it stays sent until both are in.
    fake_smsc._pending_receipts = fake_smsc._pending_receipts[1:] + fake_smsc._pending_receipts[:1]
    held = fake_smsc._pending_receipts
    fake_smsc._pending_receipts = held[:1]
    fake_smsc.release_receipts("fifo")
    wait_until(
        lambda: SmppPart.objects.filter(message_id=message_id, status="delivered").count() == 1,
        timeout=10,
        what="first part delivered",
    )
    assert statuses(message_id) == ["sent"]
    fake_smsc._pending_receipts = held[1:]
    fake_smsc.release_receipts("fifo")
    wait_status([message_id], Status.DELIVERED)


def test_unicode_message_is_ucs2(api_client, fake_smsc, binds):
    message_id = send(api_client, "Grüße 👋 from the platform")
    wait_status([message_id], Status.DELIVERED)
    [part] = fake_smsc.parts
    assert part.data_coding == codec.DATA_CODING_UCS2 and part.text == "Grüße 👋 from the platform"


@pytest.fixture
def short_throttle_pauses(settings):
    # Each throttling answer met outside a pause doubles the next pause (0.5 s, 1, 2, 4, 8 by
    # default): on a loaded machine five refusals can come one by one and take 15 s.
    settings.SMPP_THROTTLE_PAUSE_SECONDS, settings.SMPP_THROTTLE_PAUSE_MAX_SECONDS = 0.1, 0.8


def test_throttling_is_retried_in_pace_without_counting_attempts(
    short_throttle_pauses, api_client, fake_smsc, binds
):
    fake_smsc.throttle_next(3)
    fake_smsc.queue_full_next(2)
    ids = [send(api_client, f"burst {n}") for n in range(10)]
    wait_status(ids, Status.DELIVERED, timeout=30)
    assert fake_smsc.refused[codec.ESME_RTHROTTLED] == 3 and fake_smsc.refused[codec.ESME_RMSGQFUL] == 2
    assert set(Message.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    assert len(fake_smsc.parts) == 10 and not fake_smsc.duplicate_parts()


def test_refused_destination_fails_with_the_smsc_code(api_client, fake_smsc, binds):
    fake_smsc.reject_destination(CONTACT, codec.ESME_RINVDSTADR)
    message_id = send(api_client)
    wait_status([message_id], Status.FAILED)
    assert Message.objects.get(pk=message_id).error_code == "ESME_RINVDSTADR"


def test_dropped_bind_mid_burst_loses_nothing(api_client, fake_smsc, binds):
    fake_smsc.drop_after_submits(15)
    ids = [send(api_client, f"burst {n}") for n in range(40)]
    wait_status(ids, Status.DELIVERED, timeout=30)
    texts = fake_smsc.texts_by_destination()
    assert {text for _, text in texts} == {f"burst {n}" for n in range(40)}
    # Sent twice: only messages whose submit_sm was out when the bind dropped (at most a window's
    # worth), whose answer never came back; every message answered before the drop went once.
    in_doubt = set(
        MessageEvent.objects.filter(message_id__in=ids, error_code="smpp_bind_lost").values_list(
            "message__body", flat=True
        )
    )
    twice = {text for (_, text), count in texts.items() if count > 1}
    assert twice <= in_doubt and len(in_doubt) <= 10
    assert all(count <= 2 for count in texts.values())
    assert len(fake_smsc.binds) >= 2


def test_smsc_unbind_then_rebind(api_client, fake_smsc, binds):
    first = send(api_client, "before")
    wait_status([first], Status.DELIVERED)
    fake_smsc.unbind_all()
    second = send(api_client, "after")
    wait_status([second], Status.DELIVERED)
    assert fake_smsc.unbinds == 0 and len(fake_smsc.binds) == 2


def test_mo_message_in_parts_reaches_the_inbox(fake_smsc, binds, workspace):
    assert fake_smsc.wait_for_binds()
    body = "Reply from the handset, long enough to need two parts of a concatenated SMS. " * 3
    statuses_ = fake_smsc.send_mo(source=CONTACT, destination=SMPP_SENDER, body=body, order="reverse")
    assert statuses_ == [0, 0]  # 234 characters: two parts
    wait_until(
        lambda: Message.objects.filter(direction=Direction.INBOUND).exists(),
        timeout=10,
        what="inbound message",
    )
    inbound = Message.objects.get(direction=Direction.INBOUND)
    assert (inbound.from_number, inbound.to_number, inbound.body) == (CONTACT, SMPP_SENDER, body)
    assert inbound.status == Status.RECEIVED and inbound.workspace == workspace
    assert not SmppInboundPart.objects.exists()


def test_malformed_input_changes_nothing_and_keeps_the_bind(api_client, fake_smsc, binds):
    assert fake_smsc.wait_for_binds()
    events_before = CarrierEvent.objects.count()
    # A receipt that names no message, and one for an id nobody sent.
    assert (
        fake_smsc.send_deliver(
            esm_class=codec.ESM_CLASS_RECEIPT,
            source_addr="14155552671",
            destination_addr="12025550188",
            short_message=b"garbage",
        )
        == 0x65
    )
    assert (
        fake_smsc.send_deliver(
            esm_class=codec.ESM_CLASS_RECEIPT,
            source_addr="14155552671",
            destination_addr="12025550188",
            short_message=b"id:DEADBEEF stat:DELIVRD err:000",
        )
        == 0
    )
    # An unknown command and a truncated deliver_sm: generic_nack, the bind stays up.
    fake_smsc.send_raw(bytes.fromhex("00000010000000AA0000000000000042"))
    fake_smsc.send_raw(bytes.fromhex("0000001400000005000000000000004341424344"))
    assert fake_smsc.wait_for(lambda: sum(1 for c, _ in fake_smsc.responses if c == "generic_nack") >= 1)
    assert ("generic_nack", codec.ESME_RINVCMDID) in fake_smsc.responses
    assert CarrierEvent.objects.count() == events_before
    message_id = send(api_client)
    wait_status([message_id], Status.DELIVERED)
    assert len(fake_smsc.binds) == 1


def test_a_burst_with_a_wide_window_all_delivered(api_client, fake_smsc, smpp_account, settings):
    smpp_account.settings = {**smpp_account.settings, "window": 50}
    smpp_account.save()
    messages = [{"to": CONTACT, "body": f"wide {n}"} for n in range(150)]
    response = api_client.post("/api/messages/batch", {"messages": messages}, format="json")
    assert response.status_code in (200, 201, 207), response.content
    ids = [item["message"]["id"] for item in response.json()["data"]]
    manager = BindManager(account_ids=[smpp_account.pk])
    thread = threading.Thread(target=manager.run_forever, daemon=True)
    thread.start()
    try:
        # Every message reaches the SMSC once and is recorded sent (or already delivered: the
        # receipts are applied inline here, eager tasks, so slower than by workers).
        wait_until(
            lambda: Message.objects.filter(pk__in=ids, status__in=["sent", "delivered"]).count() == 150,
            timeout=90,
            what="all sent",
        )
    finally:
        manager.stop()
        thread.join(10)
    assert len(fake_smsc.parts) == 150 and not fake_smsc.duplicate_parts()


def test_at_most_once_a_dropped_bind_fails_only_what_was_in_doubt(api_client, fake_smsc, smpp_account):
    """At most once: the submit_sm whose answer the drop took ends failed (`smpp_unknown`), never
    sent again; the rest of the burst is delivered, each message once."""
    smpp_account.settings = {**smpp_account.settings, "uncertain_submits": "fail", "window": 5}
    smpp_account.save()
    fake_smsc.drop_after_submits(12)
    ids = [send(api_client, f"once {n}") for n in range(30)]
    manager = BindManager(account_ids=[smpp_account.pk])
    thread = threading.Thread(target=manager.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: Message.objects.filter(pk__in=ids, status__in=["delivered", "failed"]).count()
            == len(ids),
            timeout=60,
            what="every message final",
        )
    finally:
        manager.stop()
        thread.join(10)
    texts = fake_smsc.texts_by_destination()
    assert max(texts.values()) == 1
    failed = list(Message.objects.filter(pk__in=ids, status="failed").values_list("error_code", "body"))
    assert failed and {code for code, _ in failed} == {"smpp_unknown"}
    assert len(failed) <= 5  # at most the window was in doubt
    assert fake_smsc.unanswered and all(texts[(CONTACT[1:], body)] <= 1 for _, body in failed)
    assert not SmppPart.objects.filter(status="submitting").exists()
