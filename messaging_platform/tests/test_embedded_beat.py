"""The embedded default (`make run`): with no beat process, the server runs the periodic tasks."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from conftest import require_service, uses_postgres
from messaging.models import Message
from messaging_platform.testing.live_server import LiveServer
from messaging_platform.testing.processes import wait_until
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_scheduled_message_goes_out_under_the_embedded_default(user, workspace):
    # The server must see this test's rows: one PostgreSQL database (a SQLite file is per process).
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550123", is_default=True)
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="k").key
    server = LiveServer(
        env={"EMBEDDED_BEAT": "true", "SWEEP_INTERVAL_SECONDS": "1", "SIMULATOR_DELAY_SECONDS": "0"}
    ).start()
    try:
        at = (timezone.now() + timedelta(seconds=2)).isoformat()
        response = requests.post(
            f"{server.url}/api/messages",
            timeout=10,
            headers={"Authorization": f"Bearer {key}"},
            json={"to": "+14155552671", "body": "Later", "scheduled_at": at},
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "scheduled"
        wait_until(
            lambda: Message.objects.get(pk=response.json()["id"]).status == "delivered",
            timeout=30,
            what=f"the scheduled message delivered; server log:\n{server.log()}",
        )
    finally:
        server.stop()
