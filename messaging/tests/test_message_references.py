"""What a message's references guarantee, now that only some are checked by the database
(messaging 0021): a carrier's message id belongs to one message, a deleted user or API key is
cleared from its messages, and a message names only a workspace and a carrier account that exist."""

import pytest
from django.db import IntegrityError, connection, transaction

from conftest import require_service, uses_postgres
from messaging.models import Message
from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def message(workspace, **fields) -> Message:
    return Message.objects.create(
        workspace=workspace, direction="outbound", status="queued", to_number="+14155552671", **fields
    )


def checked_now() -> None:
    """The deferred foreign keys' checks, run now rather than at the test's (never made) commit."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_carrier_message_id_belongs_to_one_message(workspace):
    message(workspace, provider_sid="SM0001")
    message(workspace)  # messages not yet handed to a carrier have none: any number of them
    message(workspace)
    with pytest.raises(IntegrityError), transaction.atomic():
        message(workspace, provider_sid="SM0001")
    assert Message.objects.filter(provider_sid="SM0001").count() == 1
    assert Message.objects.filter(provider_sid__isnull=True).count() == 2


def test_deleting_a_user_clears_them_from_the_messages_they_sent(workspace, make_user):
    sender = make_user()
    sent = message(workspace, sent_by=sender)
    sender.delete()
    sent.refresh_from_db()
    assert sent.sent_by_id is None


def test_deleting_an_api_key_clears_it_from_its_messages(workspace, api_key):
    sent = message(workspace, api_key=api_key.api_key)
    api_key.api_key.delete()
    sent.refresh_from_db()
    assert sent.api_key_id is None


def test_a_message_names_only_a_workspace_that_exists(workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            workspace_id="ws_gone", direction="outbound", status="queued", to_number="+14155552671"
        )
        checked_now()


def test_a_message_is_never_routed_to_a_carrier_account_that_is_gone(workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    account = ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    account_id = account.pk
    ProviderAccount.objects.filter(pk=account_id).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        message(workspace, carrier_account_id=account_id)
        checked_now()
