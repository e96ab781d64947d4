"""The simulator carrier: documented test numbers, events through numbers.signals.carrier_event."""

import logging
import threading
import time

import phonenumbers
import pytest

from numbers.models import ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import (
    Capability,
    PermanentProviderError,
    TransientProviderError,
    WebhookRequest,
)
from numbers.providers.simulator import REPLY_BODY, SimulatorProvider, simulator_numbers
from numbers.signals import carrier_event
from numbers.tasks import simulator_emit_events

SENDER = "+12025550100"
CALLBACK = "http://testserver/webhooks/simulator/ws_sim/status?message_id=msg_1"


class Recorder:
    def __init__(self):
        self.events: list[dict] = []
        self.arrived = threading.Condition()

    def __call__(self, sender, **kwargs):
        with self.arrived:
            self.events.append({"sender": sender, **kwargs})
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.events) >= count, timeout), self.events
        return self.events

    @property
    def statuses(self) -> list[tuple[str, str | None]]:
        return [
            (e["payload"]["status"], e["payload"].get("error_code"))
            for e in self.events
            if e["kind"] == "status"
        ]


@pytest.fixture
def events():
    recorder = Recorder()
    carrier_event.connect(recorder, weak=False)
    yield recorder
    carrier_event.disconnect(recorder)


@pytest.fixture
def simulator(workspace) -> SimulatorProvider:
    return get_provider(ProviderAccount(workspace=workspace, provider="simulator"))


def send(simulator, to, **overrides):
    kwargs = {"to": to, "from_number": SENDER, "body": "Hello", "media_urls": [], "status_callback": CALLBACK}
    kwargs.update(overrides)
    return simulator.send(**kwargs)


def test_it_accepts_a_send_and_reports_sent_then_delivered_after_commit(
    simulator, workspace, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(simulator, "+14155550100")
        assert events.events == []  # nothing before the transaction commits

    assert result.status == "queued"
    assert len(result.provider_sid) == 34 and result.provider_sid.startswith("SM")
    int(result.provider_sid[2:], 16)
    assert events.statuses == [("sent", None), ("delivered", None)]
    for event in events.events:
        assert event["sender"] == "simulator"
        assert (event["workspace_id"], event["kind"]) == (workspace.id, "status")
        # A neutral event: the fields of StatusUpdate, with our message id from the callback URL.
        update = simulator.parse_status(event["payload"])
        assert (update.provider_sid, update.from_number, update.to_number, update.message_id) == (
            result.provider_sid,
            SENDER,
            "+14155550100",
            "msg_1",
        )
        assert "MessageSid" not in event["payload"]


def test_the_invalid_number_is_refused_at_send(simulator, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermanentProviderError) as caught:
        send(simulator, "+15005550001")

    assert (caught.value.code, caught.value.message) == ("21211", "Invalid 'To' Phone Number")
    assert events.events == []


def test_the_unavailable_number_is_transient_every_time(
    simulator, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            with pytest.raises(TransientProviderError):
                send(simulator, "+15005550004")
    assert events.events == []


@pytest.mark.parametrize(
    ("to", "statuses", "update"),
    [
        ("+15005550002", [("sent", None), ("undelivered", "30003")], ("undelivered", "30003")),
        ("+15005550003", [("failed", "30008")], ("failed", "30008")),
    ],
)
def test_failing_numbers_end_with_their_error_code(
    simulator, events, django_capture_on_commit_callbacks, to, statuses, update
):
    with django_capture_on_commit_callbacks(execute=True):
        send(simulator, to)

    assert events.statuses == statuses
    final = simulator.parse_status(events.events[-1]["payload"])
    assert (final.status, final.error_code) == update
    assert final.error_message


def test_the_reply_number_is_delivered_and_answers(
    simulator, workspace, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(simulator, "+15005550005")

    assert events.statuses == [("sent", None), ("delivered", None)]
    reply = events.events[-1]
    assert (reply["kind"], reply["workspace_id"]) == ("inbound", workspace.id)
    inbound = simulator.parse_inbound(reply["payload"])
    assert (inbound.from_number, inbound.to_number, inbound.body) == ("+15005550005", SENDER, REPLY_BODY)
    assert inbound.provider_sid.startswith("SM") and inbound.provider_sid != result.provider_sid


def test_a_send_without_a_from_number_uses_a_simulator_number(
    simulator, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(simulator, "+14155550100", from_number=None, messaging_service_sid="MG" + "1" * 32)

    update = simulator.parse_status(events.events[0]["payload"])
    assert update.from_number == simulator.list_numbers()[0].phone_number


def test_simulate_inbound_emits_an_incoming_mms(
    simulator, workspace, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sid = simulator.simulate_inbound("+14155550123", SENDER, "Photo", media_urls=["https://e.com/a.jpg"])

    [event] = events.events
    assert (event["kind"], event["workspace_id"]) == ("inbound", workspace.id)
    inbound = simulator.parse_inbound(event["payload"])
    assert (inbound.provider_sid, inbound.from_number, inbound.to_number, inbound.body) == (
        sid,
        "+14155550123",
        SENDER,
        "Photo",
    )
    assert inbound.media_urls == ["https://e.com/a.jpg"]


def test_with_a_delay_and_eager_celery_events_come_later_from_a_timer(
    simulator, events, settings, django_capture_on_commit_callbacks
):
    settings.SIMULATOR_DELAY_SECONDS = 0.1
    settings.CELERY_TASK_ALWAYS_EAGER = True
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        send(simulator, "+15005550005")
    assert events.events == []

    events.wait_for(3)
    assert time.monotonic() - started >= 0.3
    assert [e["kind"] for e in events.events] == ["status", "status", "inbound"]
    assert events.statuses == [("sent", None), ("delivered", None)]


def test_the_celery_task_emits_its_events_in_order_and_chains_the_rest(settings, events, workspace):
    # Without eager Celery the simulator hands its events to this task with a countdown; here Celery
    # runs the task and its chained successors inline (eager apply ignores countdowns).
    settings.CELERY_TASK_ALWAYS_EAGER = True
    planned = [
        {"kind": "status", "payload": {"provider_sid": "SM1", "status": "sent"}},
        {"kind": "status", "payload": {"provider_sid": "SM1", "status": "delivered"}},
        {"kind": "inbound", "payload": {"provider_sid": "SM2", "from_number": "+1", "to_number": "+2"}},
    ]

    simulator_emit_events.apply_async((workspace.id, planned, 30), countdown=30)

    assert [(e["kind"], e["payload"]) for e in events.events] == [(p["kind"], p["payload"]) for p in planned]
    assert {e["workspace_id"] for e in events.events} == {workspace.id}


def test_a_failing_receiver_is_logged_and_does_not_stop_the_others(
    simulator, events, caplog, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    carrier_event.connect(broken, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            send(simulator, "+14155550100")
    finally:
        carrier_event.disconnect(broken)

    assert events.statuses == [("sent", None), ("delivered", None)]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2  # one per event, by django.dispatch
    assert all("broken" in r.getMessage() for r in errors) and "receiver bug" in caplog.text


def test_list_numbers_are_two_valid_fictional_numbers_per_workspace(simulator, workspace):
    numbers = simulator.list_numbers()

    assert [n.phone_number for n in numbers] == simulator_numbers(workspace.id)
    assert len({n.phone_number for n in numbers}) == 2
    for number in numbers:
        assert number.phone_number[5:10] == "55501"
        assert phonenumbers.is_valid_number(phonenumbers.parse(number.phone_number))
        assert (number.sms, number.mms, number.voice, number.number_type) == (True, True, False, "long_code")
        assert number.provider_sid.startswith("PN") and len(number.provider_sid) == 34
    assert simulator.list_numbers() == numbers  # deterministic


def test_different_workspaces_rarely_share_numbers():
    sets = [set(simulator_numbers(f"ws_{i}")) for i in range(200)]
    pairs_sharing = sum(1 for i in range(200) for j in range(i) if sets[i] & sets[j])

    assert pairs_sharing < 0.01 * (200 * 199 / 2)


def test_every_area_code_gives_valid_numbers():
    from numbers.providers.simulator import _AREA_CODES

    for area in _AREA_CODES:
        assert phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}5550100")), area


def test_the_rest_of_the_interface_needs_no_account():
    simulator = get_provider(ProviderAccount(provider="simulator"))

    assert simulator.check_credentials().account_sid == "simulator"
    assert simulator.check_credentials().status == "active"
    assert simulator.validate_webhook(url="http://x", params={}, signature="anything") is False
    assert (
        simulator.verify_webhook(WebhookRequest(url="http://x", headers={}, body=b"", form={}, query={}))
        is False
    )
    assert Capability.SIMULATE_INBOUND in simulator.capabilities
    assert Capability.FIND_SENT not in simulator.capabilities
    number = simulator.list_numbers()[0]
    simulator.configure_number(number=number, inbound_url="http://x/in", status_url="http://x/st")
