"""Outbound webhooks: the endpoints API, the mapping of message events, signing, delivery,
retries, disabling, and the URL rules. Deliveries go over real HTTP to a loopback receiver."""

import base64
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from messaging import event_webhooks, urlsafety
from messaging.events import MESSAGE_CREATED, MESSAGE_UPDATED
from messaging.models import (
    DeliveryStatus,
    Direction,
    Message,
    Status,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from messaging.serializers import MessageSerializer
from messaging.tasks import notify_status_callback
from messaging_platform.ids import new_id
from messaging_platform.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.216.34"
ALL_EVENTS = ["message.received", "message.status_updated", "message.created"]


@pytest.fixture
def dns(monkeypatch):
    """A stub resolver: host -> addresses (unknown hosts do not resolve)."""
    table: dict[str, list[str]] = {"hooks.example.com": [PUBLIC_IP]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    monkeypatch.setattr(urlsafety, "resolve_host", resolve)
    return table


@pytest.fixture
def local_urls(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (enqueueing deliveries; tasks are eager in tests)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def receiver(local_urls):
    with WebhookReceiver() as server:
        yield server


def url(workspace, suffix: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.id}/webhooks{suffix}"


def register(client, workspace, endpoint_url: str, events=None, **extra):
    return client.post(
        url(workspace), {"url": endpoint_url, "events": events or ALL_EVENTS, **extra}, format="json"
    )


def make_endpoint(workspace, endpoint_url: str, events=None) -> WebhookEndpoint:
    return event_webhooks.webhook_endpoint_create(
        workspace=workspace, url=endpoint_url, events=events or ALL_EVENTS
    )


def make_message(workspace, direction=Direction.OUTBOUND, status=Status.QUEUED) -> Message:
    return Message.objects.create(
        workspace=workspace,
        direction=direction,
        status=status,
        to_number="+14155552671",
        from_number="+12015550123",
        body="Hi",
    )


def platform_event(message: Message, event_type: str) -> dict:
    return {"id": new_id("evt"), "type": event_type, "data": MessageSerializer(message).data}


def verify(received, secret: str) -> dict:
    """Checked with the standardwebhooks library, not with our own code."""
    return Webhook(secret).verify(received.body, received.headers)


# The endpoints API ------------------------------------------------------------------------------


def test_an_owner_registers_an_endpoint_and_sees_its_secret_once(owner_client, workspace, dns):
    response = register(owner_client, workspace, "https://hooks.example.com/sms", description="CRM")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) >= 24
    assert body["events"] == sorted(ALL_EVENTS) and body["is_active"] is True
    assert body["description"] == "CRM"
    listed = owner_client.get(url(workspace)).json()
    assert listed["pagination"]["totalItems"] == 1
    assert "secret" not in listed["data"][0]
    assert "secret" not in owner_client.get(url(workspace, f"/{body['id']}")).json()


def test_the_secret_is_encrypted_at_rest(owner_client, workspace, dns):
    secret = register(owner_client, workspace, "https://hooks.example.com/sms").json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM messaging_webhookendpoint")
        [(stored,)] = cursor.fetchall()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    assert WebhookEndpoint.objects.get().secret == secret


def test_rotating_the_secret_shows_the_new_one(owner_client, workspace, dns):
    created = register(owner_client, workspace, "https://hooks.example.com/sms").json()
    rotated = owner_client.post(url(workspace, f"/{created['id']}/rotate-secret"))
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]


def test_members_read_endpoints_but_only_managers_change_them(owner_client, member_client, workspace, dns):
    created = register(owner_client, workspace, "https://hooks.example.com/sms").json()
    assert member_client.get(url(workspace)).status_code == 200
    assert member_client.get(url(workspace, f"/{created['id']}/deliveries")).status_code == 200
    for response in (
        register(member_client, workspace, "https://hooks.example.com/other"),
        member_client.patch(url(workspace, f"/{created['id']}"), {"is_active": False}, format="json"),
        member_client.delete(url(workspace, f"/{created['id']}")),
        member_client.post(url(workspace, f"/{created['id']}/rotate-secret")),
        member_client.post(url(workspace, f"/{created['id']}/test")),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("endpoint_url", "detail"),
    [
        ("http://hooks.example.com/sms", "https"),
        ("ftp://hooks.example.com/sms", "https"),
        ("https://127.0.0.1/hook", "private"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hook", "private"),
        ("https://[::ffff:127.0.0.1]/hook", "private"),
        ("https://100.64.0.1/hook", "private"),
        ("https://internal.example.com/hook", "private"),  # resolves to a private address
        ("https://nowhere.example.com/hook", "does not resolve"),
    ],
)
def test_unsafe_urls_are_refused(owner_client, workspace, dns, endpoint_url, detail):
    dns["internal.example.com"] = [PUBLIC_IP, "192.168.1.10"]
    response = register(owner_client, workspace, endpoint_url)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_params"
    assert detail in " ".join(body["fields"]["url"])
    assert not WebhookEndpoint.objects.exists()


def test_settings_allow_http_and_private_urls_for_development(owner_client, workspace, local_urls):
    assert register(owner_client, workspace, "http://127.0.0.1:9/hook").status_code == 201


@pytest.mark.parametrize("events", [[], ["message.deleted"], ["webhook.test"], "message.created"])
def test_unknown_or_missing_events_are_refused(owner_client, workspace, dns, events):
    response = owner_client.post(
        url(workspace), {"url": "https://hooks.example.com/sms", "events": events}, format="json"
    )
    assert response.status_code == 400
    assert "events" in response.json()["fields"]


def test_patch_changes_url_events_and_activity(owner_client, workspace, dns):
    dns["new.example.com"] = [PUBLIC_IP]
    created = register(owner_client, workspace, "https://hooks.example.com/sms").json()
    response = owner_client.patch(
        url(workspace, f"/{created['id']}"),
        {"url": "https://new.example.com/x", "events": ["message.received"], "is_active": False},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["url"], body["events"], body["is_active"]) == (
        "https://new.example.com/x",
        ["message.received"],
        False,
    )
    assert body["disabled_reason"]
    bad = owner_client.patch(url(workspace, f"/{created['id']}"), {"url": "https://10.0.0.1/"}, format="json")
    assert bad.status_code == 400
    enabled = owner_client.patch(
        url(workspace, f"/{created['id']}"), {"is_active": True}, format="json"
    ).json()
    assert enabled["is_active"] is True and enabled["disabled_reason"] == ""


def test_another_workspaces_endpoints_are_not_found(
    owner_client, outsider_client, workspace, other_workspace, dns
):
    theirs = register(outsider_client, other_workspace, "https://hooks.example.com/x").json()
    paths = ["", "/rotate-secret", "/test", "/deliveries"]
    for suffix in paths:
        method = owner_client.get if suffix in ("", "/deliveries") else owner_client.post
        response = method(url(workspace, f"/{theirs['id']}{suffix}"))
        assert response.status_code == 404, suffix
        assert response.json()["error"] == "not_found"
    assert (
        owner_client.patch(
            url(workspace, f"/{theirs['id']}"), {"is_active": False}, format="json"
        ).status_code
        == 404
    )
    assert owner_client.delete(url(workspace, f"/{theirs['id']}")).status_code == 404
    # Nor through their workspace's URL.
    assert owner_client.get(url(other_workspace)).status_code == 404
    assert WebhookEndpoint.objects.get(pk=theirs["id"]).is_active
    assert owner_client.get(url(workspace)).json()["data"] == []


def test_delete_removes_the_endpoint(owner_client, workspace, dns):
    created = register(owner_client, workspace, "https://hooks.example.com/sms").json()
    assert owner_client.delete(url(workspace, f"/{created['id']}")).status_code == 204
    assert not WebhookEndpoint.objects.exists()


# Signing ---------------------------------------------------------------------------------------


def test_signatures_follow_the_standard_webhooks_convention():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    ours = event_webhooks.sign(
        secret=secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    # The specification's own example.
    assert ours == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    now = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(now),
        "webhook-signature": event_webhooks.sign(secret=secret, msg_id="evt_1", timestamp=now, body=body),
    }
    assert Webhook(secret).verify(body, headers) == {"test": 2432232314}


# Test events and the deliveries log ------------------------------------------------------------


def test_a_test_event_is_signed_delivered_and_listed(owner_client, workspace, receiver, committed):
    created = register(owner_client, workspace, receiver.url).json()
    with committed():
        response = owner_client.post(url(workspace, f"/{created['id']}/test"))
    assert response.status_code == 202
    [got] = receiver.received
    payload = verify(got, created["secret"])
    assert payload["type"] == "webhook.test"
    assert payload["id"] == got.webhook_id == response.json()["event_id"]
    assert payload["data"]["endpoint_id"] == created["id"]
    assert got.headers["content-type"] == "application/json"
    deliveries = owner_client.get(url(workspace, f"/{created['id']}/deliveries")).json()
    assert deliveries["pagination"]["totalItems"] == 1
    [row] = deliveries["data"]
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("succeeded", 1, 200)
    detail = owner_client.get(url(workspace, f"/{created['id']}/deliveries/{row['id']}")).json()
    assert detail["attempt_log"][0]["status_code"] == 200


def test_a_disabled_endpoint_gets_no_test_event(owner_client, workspace, receiver):
    created = register(owner_client, workspace, receiver.url).json()
    owner_client.patch(url(workspace, f"/{created['id']}"), {"is_active": False}, format="json")
    response = owner_client.post(url(workspace, f"/{created['id']}/test"))
    assert response.status_code == 409
    assert receiver.received == []


def test_a_delivery_that_gave_up_is_redelivered_with_the_same_event(
    owner_client, member_client, outsider_client, workspace, local_urls, committed
):
    with WebhookReceiver(fail_first=1) as receiver:
        created = register(owner_client, workspace, receiver.url).json()
        with committed():
            delivery_id = owner_client.post(url(workspace, f"/{created['id']}/test")).json()["id"]
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None
        )
        redeliver = url(workspace, f"/{created['id']}/deliveries/{delivery_id}/redeliver")
        assert member_client.post(redeliver).status_code == 403
        assert outsider_client.post(redeliver).status_code == 404
        assert receiver.received[-1].status == 500 and len(receiver.received) == 1
        with committed():
            response = owner_client.post(redeliver)
        assert response.status_code == 202
        first, second = receiver.received
        assert second.webhook_id == first.webhook_id and second.status == 200
        detail = owner_client.get(url(workspace, f"/{created['id']}/deliveries/{delivery_id}")).json()
        assert detail["status"] == "succeeded"
        assert [a["status_code"] for a in detail["attempt_log"]] == [500, 200]
        owner_client.patch(url(workspace, f"/{created['id']}"), {"is_active": False}, format="json")
        assert owner_client.post(redeliver).status_code == 409


# From message events to webhook events ---------------------------------------------------------


def test_message_events_map_onto_the_subscribed_webhook_events(
    workspace, other_workspace, receiver, committed
):
    everything = make_endpoint(workspace, receiver.url)
    inbound_only = make_endpoint(workspace, receiver.url, ["message.received"])
    theirs = make_endpoint(other_workspace, receiver.url)
    outbound_message = make_message(workspace)
    inbound_message = make_message(workspace, Direction.INBOUND, Status.RECEIVED)

    with committed():
        event_webhooks.on_platform_events(workspace.id, [platform_event(outbound_message, MESSAGE_CREATED)])
        event_webhooks.on_platform_events(workspace.id, [platform_event(inbound_message, MESSAGE_CREATED)])
        outbound_message.status = Status.SENT
        event_webhooks.on_platform_events(workspace.id, [platform_event(outbound_message, MESSAGE_UPDATED)])
        # Published again without a new status (its provider_sid was stored): no second event.
        event_webhooks.on_platform_events(workspace.id, [platform_event(outbound_message, MESSAGE_UPDATED)])
        # Inbound messages change too (read, filed), but have no status updates to tell.
        event_webhooks.on_platform_events(workspace.id, [platform_event(inbound_message, MESSAGE_UPDATED)])

    def types(endpoint):
        return list(endpoint.deliveries.order_by("created_at").values_list("event_type", flat=True))

    assert types(everything) == ["message.created", "message.received", "message.status_updated"]
    assert types(inbound_only) == ["message.received"]
    assert types(theirs) == []
    assert len(receiver.successes()) == 4
    for got in receiver.received:
        endpoint = everything if got.json["type"] != "message.received" else None
        if endpoint:
            payload = verify(got, everything.secret)
            assert set(payload) == {"id", "type", "timestamp", "data"}


def test_a_sent_message_reaches_the_webhook_through_the_platform(send, workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    response = send()  # runs the commit callbacks: publishing, then the (eager) tasks
    assert response.status_code == 201
    message_id = response.json()["id"]
    events = [verify(r, endpoint.secret) for r in receiver.received]
    assert events[0]["type"] == "message.created"
    assert all(e["data"]["id"] == message_id for e in events)
    statuses = [e["data"]["status"] for e in events if e["type"] == "message.status_updated"]
    assert statuses[-1] == "delivered"
    assert len(statuses) == len(set(statuses))


def test_inactive_endpoints_hear_nothing(workspace, receiver):
    endpoint = make_endpoint(workspace, receiver.url)
    event_webhooks.webhook_endpoint_update(endpoint=endpoint, is_active=False)
    event_webhooks.on_platform_events(
        workspace.id, [platform_event(make_message(workspace), MESSAGE_CREATED)]
    )
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def test_endpoint_changes_reach_publishers_that_cached_the_endpoint_list(workspace, receiver, committed):
    """Publishing reads the endpoint list from the cache; creating, disabling and re-enabling an
    endpoint must each be seen by the very next event."""

    def publish() -> int:
        with committed():
            event_webhooks.on_platform_events(
                workspace.id, [platform_event(make_message(workspace), MESSAGE_CREATED)]
            )
        return WebhookDelivery.objects.count()

    assert publish() == 0  # caches "no endpoints"
    with committed():
        endpoint = make_endpoint(workspace, receiver.url)
    assert publish() == 1
    with committed():
        event_webhooks.webhook_endpoint_update(endpoint=endpoint, is_active=False)
    assert publish() == 1
    with committed():
        event_webhooks.webhook_endpoint_update(endpoint=endpoint, is_active=True)
    assert publish() == 2
    with committed():
        endpoint.delete()
    assert publish() == 0  # its deliveries went with it, and nothing new was stored


# Failures, retries, disabling ------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    frozen = Clock()
    with mock.patch("django.utils.timezone.now", frozen):
        yield frozen


def deliver_until_done(delivery: WebhookDelivery, clock: Clock, limit: int = 100) -> list:
    moments = []
    for _ in range(limit):
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            return moments
        clock.now = delivery.next_attempt_at
        moments.append(clock.now)
        event_webhooks.webhook_delivery_attempt(delivery_id=delivery.id)
    raise AssertionError("never gave up")


def test_a_failing_delivery_backs_off_exponentially_for_at_least_a_day(
    workspace, local_urls, clock, settings
):
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 30
    with WebhookReceiver(status=503) as failing:
        endpoint = make_endpoint(workspace, failing.url)
        [delivery] = event_webhooks._create_deliveries(
            workspace.id,
            [endpoint.id],
            event_id=new_id("evt"),
            event_type="message.created",
            data={"id": "msg_x"},
        )
        moments = deliver_until_done(delivery, clock)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert moments[-1] - moments[0] >= timedelta(hours=24)
    assert len(moments) <= 20 and delivery.attempts == len(moments)
    gaps = [(b - a).total_seconds() for a, b in zip(moments, moments[1:], strict=False)]
    assert gaps[0] <= settings.WEBHOOK_RETRY_BASE_SECONDS
    assert gaps[4] > 4 * gaps[0]  # it grows
    assert max(gaps) <= settings.WEBHOOK_RETRY_MAX_SECONDS
    # Every attempt is logged and carried the same event id.
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == len(moments)
    assert {r.webhook_id for r in failing.received} == {delivery.event_id}
    assert delivery.last_status_code == 503 and "503" in delivery.last_error


def test_the_sweep_enqueues_only_due_deliveries_once(workspace, receiver, clock):
    endpoint = make_endpoint(workspace, receiver.url)
    WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_id="evt_due",
        event_type="message.created",
        payload={"id": "evt_due"},
        next_attempt_at=clock.now - timedelta(seconds=1),
    )
    WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_id="evt_later",
        event_type="message.created",
        payload={"id": "evt_later"},
        next_attempt_at=clock.now + timedelta(minutes=5),
    )
    with mock.patch("messaging.tasks.deliver_webhook.delay") as delay:
        assert event_webhooks.sweep_webhook_deliveries() == 1
        assert event_webhooks.sweep_webhook_deliveries() == 0  # already on the queue
    delay.assert_called_once()


def test_an_endpoint_failing_for_days_is_disabled_with_a_reason(owner_client, workspace, local_urls, clock):
    with WebhookReceiver(status=500) as failing:
        endpoint = make_endpoint(workspace, failing.url)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=clock.now - timedelta(days=4, hours=23)
        )
        first, second = (
            event_webhooks._create_deliveries(
                workspace.id, [endpoint.id], event_id=new_id("evt"), event_type="message.created", data={}
            )[0]
            for _ in range(2)
        )
        endpoint.refresh_from_db()
        assert endpoint.is_active  # not yet five days
        clock.now += timedelta(hours=2)
        WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=clock.now)
        event_webhooks.webhook_delivery_attempt(delivery_id=first.pk)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "Disabled automatically" in endpoint.disabled_reason and "500" in endpoint.disabled_reason
    second.refresh_from_db()
    assert second.status == DeliveryStatus.FAILED
    shown = owner_client.get(url(workspace, f"/{endpoint.id}")).json()
    assert shown["is_active"] is False and shown["disabled_reason"] == endpoint.disabled_reason


def test_a_success_ends_the_failing_streak(workspace, receiver, committed):
    endpoint = make_endpoint(workspace, receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=3))
    with committed():
        event_webhooks.webhook_endpoint_send_test(endpoint=endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_slow_receiver_is_cut_off_by_the_timeout(workspace, local_urls, settings, committed):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    with WebhookReceiver(delay=5) as slow:
        endpoint = make_endpoint(workspace, slow.url)
        started = time.monotonic()
        with committed():
            delivery = event_webhooks.webhook_endpoint_send_test(endpoint=endpoint)
        elapsed = time.monotonic() - started
    delivery.refresh_from_db()
    assert elapsed < 3
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    assert "Timed out" in delivery.last_error and delivery.last_status_code is None
    assert WebhookAttempt.objects.get(delivery=delivery).duration_ms < 3000


def test_redirects_are_not_followed(workspace, local_urls, committed):
    with WebhookReceiver() as target, WebhookReceiver(redirect_to=target.url) as redirecting:
        with committed():
            delivery = event_webhooks.webhook_endpoint_send_test(
                endpoint=make_endpoint(workspace, redirecting.url)
            )
        assert target.received == []
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302 and "redirects are not followed" in delivery.last_error


def test_an_unreachable_endpoint_is_a_recorded_failure(workspace, local_urls, committed):
    with WebhookReceiver() as gone:
        dead_url = gone.url
    with committed():
        delivery = event_webhooks.webhook_endpoint_send_test(endpoint=make_endpoint(workspace, dead_url))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("Connection failed")


def test_a_host_that_now_resolves_privately_is_refused_at_delivery(workspace, dns, settings, committed):
    endpoint = make_endpoint(workspace, "https://hooks.example.com/sms")
    dns["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding
    with mock.patch("requests.post") as post, committed():
        delivery = event_webhooks.webhook_endpoint_send_test(endpoint=endpoint)
    post.assert_not_called()
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Refused:")


# The status_callback of sends obeys the same rules ---------------------------------------------


@pytest.mark.parametrize(
    "callback", ["http://hooks.example.com/cb", "https://10.0.0.8/cb", "https://169.254.169.254/cb"]
)
def test_unsafe_status_callbacks_are_refused(send, dns, callback):
    response = send(status_callback=callback)
    assert response.status_code == 400
    assert response.json()["fields"]["status_callback"]


def test_a_public_status_callback_is_accepted(send, dns):
    response = send(status_callback="https://hooks.example.com/cb")
    assert response.status_code == 201


def test_a_status_callback_is_checked_again_before_it_is_called(workspace, dns):
    message = make_message(workspace)
    dns["hooks.example.com"] = ["10.0.0.9"]
    with mock.patch("requests.post") as post:
        notify_status_callback("https://hooks.example.com/cb", {"id": message.id})
    post.assert_not_called()
