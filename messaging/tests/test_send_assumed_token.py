"""A send through the lean entry does not read the credentials token on its own: its store
statement checks it (messaging_platform/api/credentials.py: assume_token). A change committed
before the send must still be seen by it: a revoked key stores nothing and answers 401, a removed
sender is refused, and whatever does not store reads the token before answering."""

import pytest
from django.core import signals
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from conftest import uses_postgres
from messaging.models import Message
from messaging_platform.api import credentials
from messaging_platform.wsgi import application
from numbers.models import PhoneNumber
from workspaces.models import ApiKey, Workspace

pytestmark = pytest.mark.django_db

SEND = b'{"to": "+14155552671", "body": "Hello"}'


@pytest.fixture(autouse=True)
def _postgres_only():
    if not uses_postgres():
        pytest.skip("the caches (and so the assumed token) are on only with PostgreSQL")
    credentials.clear()


def _post(api_key, body: bytes = SEND, path: str = "/api/messages") -> tuple[str, dict[str, str], bytes]:
    environ = (
        RequestFactory()
        .generic(
            "POST", path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key.key}"
        )
        .environ
    )
    answered: dict = {}

    def start_response(status, headers, exc_info=None):
        answered["status"], answered["headers"] = status, dict(headers)

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        iterable = application(environ, start_response)
        try:
            body_out = b"".join(iterable)
        finally:
            iterable.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answered["status"], answered["headers"], body_out


def test_a_send_from_the_cache_is_one_statement(api_key, our_number):
    assert _post(api_key)[0] == "201 Created"  # reads the token, loads the caches
    with CaptureQueriesContext(connection) as queries:
        assert _post(api_key)[0] == "201 Created"
    assert len(queries) == 1  # the store statement, which checks the token too
    assert Message.objects.count() == 2


def test_a_key_revoked_since_the_last_send_stores_nothing_and_answers_401(api_key, our_number):
    assert _post(api_key)[0] == "201 Created"
    ApiKey.objects.filter(pk=api_key.api_key.pk).update(revoked_at=api_key.api_key.created_at)
    status, headers, body = _post(api_key)
    assert status == "401 Unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not any(name.startswith("X-RateLimit") for name in headers)
    assert Message.objects.count() == 1
    assert _post(api_key, path="/api/messages/batch", body=b'{"messages": [' + SEND + b"]}")[0] == (
        "401 Unauthorized"
    )
    assert Message.objects.count() == 1


def test_a_disabled_workspace_refuses_a_send_that_would_not_store_either(api_key, our_number):
    assert _post(api_key)[0] == "201 Created"
    Workspace.objects.filter(pk=api_key.api_key.workspace_id).update(is_active=False)
    # Invalid: it would answer 400 without reaching the store statement, so the token is read.
    assert _post(api_key, body=b'{"to": "555-1234", "body": "x"}')[0] == "401 Unauthorized"
    assert _post(api_key, path="/api/messages/batch", body=b'{"messages": [{"to": "x"}]}')[0] == (
        "401 Unauthorized"
    )


def test_a_sender_removed_since_the_last_send_is_refused(api_key, workspace, our_number):
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550124", sms_enabled=True)
    send_from = b'{"to": "+14155552671", "body": "hi", "from": "+12015550124"}'
    assert _post(api_key, body=send_from)[0] == "201 Created"
    PhoneNumber.objects.filter(phone_number="+12015550124").delete()
    status, _, body = _post(api_key, body=send_from)
    assert status == "400 Bad Request" and b"from_number_not_allowed" in body
    assert Message.objects.count() == 1


def test_a_number_added_since_the_last_send_is_used_at_once(api_key, workspace, our_number):
    assert _post(api_key)[0] == "201 Created"
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550125", sms_enabled=True)
    send_from = b'{"to": "+14155552671", "body": "hi", "from": "+12015550125"}'
    status, headers, _ = _post(api_key, body=send_from)
    assert status == "201 Created"
    assert headers["X-RateLimit-Remaining"] == str(int(headers["X-RateLimit-Limit"]) - 2)  # counted once
    assert Message.objects.filter(from_number="+12015550125").count() == 1


def test_a_webhook_endpoint_added_or_disabled_since_the_last_send_is_seen_by_the_next(
    api_key, workspace, our_number, transactional_db
):
    # Committed as in production, so the publish (after commit) runs inside the request.
    from messaging.models import WebhookDelivery, WebhookEndpoint, WebhookEventType

    assert _post(api_key)[0] == "201 Created"  # caches the workspace's endpoints: none
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url="https://hooks.example.com/in",
        events=[WebhookEventType.MESSAGE_CREATED],
        secret="whsec_dGVzdA==",
    )
    assert _post(api_key)[0] == "201 Created"
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event_type="message.created").count() == 1
    # A bulk update (no signal, no cache version moved): the trigger changes the token.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    assert _post(api_key)[0] == "201 Created"
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    assert Message.objects.count() == 3
