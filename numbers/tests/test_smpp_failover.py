"""Failover from an SMPP account, on the bind manager and the real database: a message the SMSC
refused before accepting it, or one waiting for a bind that cannot be made, moves to its route's
fallback account (from that account's sender) and is sent there once; one the SMSC took is not."""

import threading

import pytest

from conftest import require_service, uses_postgres
from messaging import dispatch
from messaging.models import Message, MessageEvent, Status
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SENDER, SMPP_SYSTEM_ID
from messaging_platform.testing.processes import free_port, wait_until
from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount
from numbers.providers.smpp import codec
from numbers.providers.smpp.binds import BindManager

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = "+14155552671"
BACKUP_SENDER = "+12025550111"


@pytest.fixture
def accounts(settings, fake_smsc, workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    settings.SMPP_POLL_SECONDS = 0.02
    settings.SMPP_WRITE_DELAY_SECONDS = 0.005
    settings.SMPP_RECONNECT_MIN_SECONDS = 0.1
    settings.SMPP_RECONNECT_MAX_SECONDS = 0.4
    settings.SMPP_CONNECT_TIMEOUT_SECONDS = 1
    settings.SMPP_ACCOUNTS_REFRESH_SECONDS = 0.2
    smpp = ProviderAccount.objects.create(
        workspace=workspace,
        provider="smpp",
        auth_token=SMPP_PASSWORD,
        settings={"host": "127.0.0.1", "port": fake_smsc.port, "system_id": SMPP_SYSTEM_ID},
    )
    backup = ProviderAccount.objects.create(
        workspace=workspace, provider="simulator", name="Backup", is_primary=False
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=SMPP_SENDER, is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number=BACKUP_SENDER, account=backup)
    CarrierRoute.objects.create(workspace=workspace, prefix="+1", account=smpp, fallback_account=backup)
    return smpp, backup


@pytest.fixture
def run_binds(accounts):
    started = []

    def run() -> BindManager:
        manager = BindManager(account_ids=[accounts[0].pk])
        thread = threading.Thread(target=manager.run_forever, daemon=True)
        thread.start()
        started.append((manager, thread))
        return manager

    yield run
    for manager, thread in started:
        manager.stop()
        thread.join(10)


def send(api_client, body: str) -> str:
    response = api_client.post("/api/messages", {"to": CONTACT, "body": body}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["from"] == SMPP_SENDER
    return response.json()["id"]


def sent(message_id: str) -> bool:
    return Message.objects.filter(pk=message_id, status__in=[Status.SENT, Status.DELIVERED]).exists()


def failed_over(message_id: str) -> bool:
    return MessageEvent.objects.filter(message_id=message_id, source="failover").exists()


def test_a_submit_the_smsc_refused_goes_once_through_the_fallback(api_client, accounts, fake_smsc, run_binds):
    smpp, backup = accounts
    fake_smsc.reject_destination(CONTACT, codec.ESME_RSYSERR)
    run_binds()
    message_id = send(api_client, "Refused by the SMSC")
    # Woken after the failover, the delivery engine sends it through the fallback.
    wait_until(lambda: sent(message_id), timeout=15, what="sent through the fallback")
    message = Message.objects.get(pk=message_id)
    assert (message.carrier_account, message.fallback_account) == (backup, None)
    assert message.from_number == BACKUP_SENDER
    event = MessageEvent.objects.get(message=message, source="failover")
    assert event.error_code == "ESME_RSYSERR" and backup.uid in event.error_message
    assert event.status == Status.QUEUED
    assert MessageEvent.objects.filter(message=message, source="failover").count() == 1
    assert fake_smsc.parts == []  # the SMSC never took it
    assert dispatch.dispatch_round() == 0  # and nothing is left to send again


def test_a_message_the_smsc_took_does_not_fail_over(api_client, accounts, fake_smsc, run_binds):
    smpp, _ = accounts
    run_binds()
    message_id = send(api_client, "Taken by the SMSC")
    wait_until(
        lambda: Message.objects.get(pk=message_id).status == Status.DELIVERED,
        timeout=15,
        what="delivery over SMPP",
    )
    message = Message.objects.get(pk=message_id)
    assert message.carrier_account == smpp and not failed_over(message_id)
    assert len(fake_smsc.parts) == 1


def test_messages_waiting_for_a_bind_that_cannot_be_made_fail_over(api_client, accounts, run_binds):
    smpp, backup = accounts
    smpp.settings = {**smpp.settings, "port": free_port()}  # nothing listens there
    smpp.save()
    message_id = send(api_client, "No bind")
    run_binds()
    wait_until(lambda: sent(message_id), timeout=15, what="sent through the fallback")
    message = Message.objects.get(pk=message_id)
    assert (message.carrier_account, message.from_number) == (backup, BACKUP_SENDER)
    assert failed_over(message_id)
