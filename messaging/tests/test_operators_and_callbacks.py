"""Operators retry and cancel messages through the admin; integrators hear status changes at the
status_callback they gave."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from messaging.models import Message, MessageEvent, Status
from messaging.tests.conftest import CONTACT

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x" * 12))
    return client


def test_an_operator_can_retry_a_failed_message(send, admin_client, django_capture_on_commit_callbacks):
    message = Message.objects.get(pk=send(to="+15005550003").json()["id"])  # the carrier fails it
    assert message.status == Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:messaging_message_changelist"),
            {"action": "retry", "_selected_action": [message.pk]},
        )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.attempts == 1  # sent again from a clean slate
    assert MessageEvent.objects.filter(message=message, source="operator").exists()


def test_retrying_a_delivered_message_is_refused_with_a_notice(send, admin_client):
    message = Message.objects.get(pk=send().json()["id"])
    response = admin_client.post(
        reverse("admin:messaging_message_changelist"),
        {"action": "retry", "_selected_action": [message.pk]},
        follow=True,
    )
    assert "Only failed or undelivered messages can be retried" in response.content.decode()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


def test_an_operator_can_cancel_a_scheduled_message(send, admin_client):
    when = (timezone.now() + timedelta(hours=2)).isoformat()
    message = Message.objects.get(pk=send(scheduled_at=when).json()["id"])
    admin_client.post(
        reverse("admin:messaging_message_changelist"), {"action": "cancel", "_selected_action": [message.pk]}
    )
    message.refresh_from_db()
    assert message.status == Status.CANCELED


def test_the_message_admin_finds_a_message_by_its_provider_sid(send, admin_client):
    message = Message.objects.get(pk=send().json()["id"])
    page = admin_client.get(reverse("admin:messaging_message_changelist"), {"q": message.provider_sid})
    assert message.id in page.content.decode()
    detail = admin_client.get(reverse("admin:messaging_message_change", args=[message.pk]))
    assert "delivered" in detail.content.decode()


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        length = int(self.headers["Content-Length"])
        _Receiver.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/status", _Receiver.received
    server.shutdown()


def test_status_changes_are_posted_to_the_status_callback(send, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback, over http
    settings.WEBHOOK_ALLOW_HTTP = True
    url, received = receiver
    message_id = send(to=CONTACT, status_callback=url).json()["id"]
    statuses = [event["data"]["status"] for event in received]
    assert statuses == ["sent", "delivered"]
    assert {event["data"]["id"] for event in received} == {message_id}
    assert all(event["type"] == "message.status_updated" for event in received)
