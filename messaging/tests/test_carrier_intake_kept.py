"""Carrier webhooks verified with the carrier account each web process keeps and stored in one
round trip (messaging/carrier_intake.py: _receive_one): a change to a carrier account, a number or
a workspace, made by any process, still decides the very next webhook."""

import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import uses_postgres
from messaging.models import CarrierEvent, Message, Status
from messaging_platform.crypto import encrypt
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import (
    inbound_params,
    new_sid,
    signature_headers,
    status_params,
)

CONTACT = "+14155552671"


@pytest.fixture(autouse=True)
def _postgres_only():
    if not uses_postgres():
        pytest.skip("webhooks are stored in one round trip on PostgreSQL only")


@pytest.fixture
def post(client, twilio_workspace):
    def post(route: str, params: dict, token: str, query: str = ""):
        path = f"/webhooks/twilio/{twilio_workspace.id}/{route}{query}"
        headers = signature_headers("http://testserver" + path, params, token)
        return client.post(path, params, headers=headers)

    return post


@pytest.fixture
def sent(twilio_workspace) -> Message:
    return Message.objects.create(
        workspace=twilio_workspace,
        direction="outbound",
        status=Status.SENDING,
        to_number=CONTACT,
        from_number=TWILIO_LONG_CODE,
        body="hi",
        provider_sid=new_sid("SM"),
    )


def _inbound(body: str) -> dict:
    return inbound_params(from_number=CONTACT, to_number=TWILIO_LONG_CODE, body=body)


def _status(message: Message, status: str) -> dict:
    return status_params(
        message_sid=message.provider_sid, status=status, from_number=TWILIO_LONG_CODE, to_number=CONTACT
    )


def _psql(sql: str) -> None:
    """A change made by another process (its own connection, committed)."""
    s = connection.settings_dict
    dsn = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    subprocess.run(["psql", dsn, "-qc", sql], check=True)


@pytest.mark.django_db
def test_a_status_callback_is_one_statement_and_a_retry_is_stored_once(post, sent, twilio_account):
    token = twilio_account.auth_token
    assert post("status", _status(sent, "sending"), token).status_code == 204  # the account kept
    with CaptureQueriesContext(connection) as queries:
        assert post("status", _status(sent, "sent"), token).status_code == 204
    # The test's transaction wraps it in a savepoint; nothing else reaches PostgreSQL.
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in str(q["sql"])]
    assert len(statements) == 1, statements
    assert post("status", _status(sent, "sent"), token).status_code == 204  # Twilio's retry
    assert CarrierEvent.objects.filter(message=sent).count() == 2


@pytest.mark.django_db
def test_a_status_callback_for_no_message_of_the_workspace_is_a_404_and_not_stored(
    post, twilio_workspace, twilio_account
):
    other = Message(provider_sid=new_sid("SM"))
    response = post("status", _status(other, "sent"), twilio_account.auth_token, "?message_id=msg_nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not CarrierEvent.objects.exists()


def test_an_auth_token_rotated_by_another_process_verifies_the_next_webhook(
    post, twilio_workspace, twilio_account, transactional_db
):
    old = twilio_account.auth_token
    assert post("inbound", _inbound("one"), old).status_code == 200
    assert post("inbound", _inbound("two"), old).status_code == 200  # verified from what is kept
    rotated = "0123456789abcdef0123456789abcdef"
    _psql(
        f"UPDATE numbers_provideraccount SET auth_token = '{encrypt(rotated)}' "
        f"WHERE workspace_id = '{twilio_workspace.id}'"
    )
    refused = post("inbound", _inbound("three"), old)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert post("inbound", _inbound("four"), rotated).status_code == 200
    bodies = set(CarrierEvent.objects.values_list("params__Body", flat=True))
    assert bodies == {"one", "two", "four"}


def test_a_workspace_deactivated_by_another_process_refuses_the_next_webhook(
    post, twilio_workspace, twilio_account, sent, transactional_db
):
    token = twilio_account.auth_token
    assert post("status", _status(sent, "sent"), token).status_code == 204
    _psql(f"UPDATE workspaces_workspace SET is_active = false WHERE id = '{twilio_workspace.id}'")
    refused = post("status", _status(sent, "delivered"), token)
    assert refused.status_code == 404
    assert CarrierEvent.objects.filter(message=sent).count() == 1


def test_a_number_removed_by_another_process_refuses_inbound_to_it_at_once(
    post, twilio_workspace, twilio_account, transactional_db
):
    token = twilio_account.auth_token
    assert post("inbound", _inbound("before"), token).status_code == 200
    _psql(f"DELETE FROM numbers_phonenumber WHERE phone_number = '{TWILIO_LONG_CODE}'")
    refused = post("inbound", _inbound("after"), token)
    assert refused.status_code == 404
    assert "not a number of this workspace" in refused.json()["detail"]
    assert list(CarrierEvent.objects.values_list("params__Body", flat=True)) == ["before"]
