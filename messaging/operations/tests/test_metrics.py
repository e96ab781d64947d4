"""`/metrics` in one process: protected by the operator token, never public by default, and the
queue gauges read from the messages table at scrape time."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from messaging.models import Message, Status
from numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client=None, **headers):
    return (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)


def samples(response) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def test_without_a_token_setting_metrics_do_not_exist(settings):
    settings.METRICS_TOKEN = ""
    assert scrape().status_code == 404


def test_a_wrong_or_missing_token_is_refused(token):
    assert Client().get("/metrics").status_code == 401
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"mp_" not in response.content


def test_the_scraper_reaches_it_by_address_and_over_plain_http(token, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["platform.example.com"]
    response = scrape(HTTP_HOST="10.0.3.17:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_requests_are_counted_by_route_not_by_path(token, owner_client, workspace):
    owner_client.get(f"/api/ui/workspaces/{workspace.pk}/members")
    found = samples(scrape())
    routes = {dict(labels).get("route") for (name, labels) in found if name == "mp_http_requests_total"}
    assert "api/ui/workspaces/<str:workspace_id>/members" in routes
    assert not [route for route in routes if route and workspace.pk in route]


def test_queue_gauges_count_waiting_messages_per_sender_class(token, workspace):
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550100", is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550199", number_type="short_code")
    now = timezone.now()

    def message(status, from_number, **extra):
        return Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=status,
            to_number="+14155552671",
            from_number=from_number,
            body="x",
            **extra,
        )

    message(Status.QUEUED, "+12025550100", created_at=now - timedelta(seconds=120))
    message(Status.QUEUED, "+12025550100", created_at=now - timedelta(seconds=5))
    # Waiting for a retry in a minute: counted, but not due.
    message(Status.QUEUED, "+12025550199", next_attempt_at=now + timedelta(seconds=60))
    message(Status.SCHEDULED, "+12025550199", scheduled_at=now - timedelta(seconds=30))
    message(Status.SCHEDULED, "+12025550199", scheduled_at=now + timedelta(hours=1))  # not yet
    message(Status.QUEUED, "", messaging_service_sid="MG" + "0" * 32)
    message(Status.SENT, "+12025550100")

    found = samples(scrape())
    depth = {
        dict(labels)["sender_class"]: v for (name, labels), v in found.items() if name == "mp_queue_depth"
    }
    assert depth == {"long_code": 2, "short_code": 2, "messaging_service": 1}
    age = {
        dict(labels)["sender_class"]: v
        for (name, labels), v in found.items()
        if name == "mp_queue_oldest_due_age_seconds"
    }
    assert 119 <= age["long_code"] < 180
    assert 29 <= age["short_code"] < 90


def test_messages_are_counted_under_the_carrier_of_their_own_account(token, workspace):
    from messaging.events import message_payload
    from messaging.operations import metrics as operations_metrics
    from numbers.models import ProviderAccount

    operations_metrics._carriers.clear()
    ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", is_primary=True, account_sid="AC" + "1" * 32, auth_token="t"
    )
    telnyx = ProviderAccount.objects.create(
        workspace=workspace, provider="telnyx", is_primary=False, auth_token="k"
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550100", is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550177", account=telnyx)
    before = samples(scrape())

    def delivered(from_number):
        message = Message.objects.create(
            workspace=workspace,
            direction="outbound",
            status=Status.DELIVERED,
            to_number="+14155552671",
            from_number=from_number,
            body="x",
            delivered_at=timezone.now(),
        )
        return {"type": "message.updated", "data": message_payload(message)}

    inbound = Message.objects.create(
        workspace=workspace,
        direction="inbound",
        status=Status.RECEIVED,
        to_number="+12025550177",
        from_number="+14155552671",
        body="hi",
    )
    operations_metrics.count_message_events(
        workspace.pk,
        [
            delivered("+12025550177"),
            delivered("+12025550177"),
            delivered("+12025550100"),
            {"type": "message.created", "data": message_payload(inbound)},
        ],
    )
    after = samples(scrape())

    def grew(status, carrier):
        key = (
            "mp_messages_total",
            frozenset({"status": status, "carrier": carrier, "error_code": ""}.items()),
        )
        return after.get(key, 0) - before.get(key, 0)

    assert grew("delivered", "telnyx") == 2
    assert grew("delivered", "twilio") == 1
    assert grew("received", "telnyx") == 1
