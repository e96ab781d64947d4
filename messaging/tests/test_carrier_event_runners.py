"""The runners that apply stored carrier events: one wake-up for a flood of webhooks, callbacks
gathered into batches while they keep coming, and nothing left behind by a runner killed while it
held the wake-up, on the real PostgreSQL and Redis. Callbacks are signed as Twilio signs them and
go through the webhook; tasks go to the broker (not eager), where no worker takes them here."""

import threading
import time

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from conftest import require_service, uses_postgres
from messaging import carrier_events, wakeup
from messaging.models import CarrierEvent, Message, MessageEvent, Status
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import new_sid, signature_headers, status_params

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = "+14155552671"


@pytest.fixture
def broker(settings):
    """Tasks published to the test Redis (no worker consumes them); answers a function that
    counts the wake-ups published since the fixture started. Removes them afterwards."""
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(wakeup.EVENTS_PENDING_KEY, wakeup.EVENTS_RUNNERS_KEY)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(queue)
    yield lambda: client.llen(queue) - before
    for _ in range(client.llen(queue) - before):
        client.rpop(queue)
    client.delete(wakeup.EVENTS_PENDING_KEY, wakeup.EVENTS_RUNNERS_KEY)


@pytest.fixture
def post_status(twilio_account, twilio_workspace):
    client = Client()

    def post(message: Message, status: str):
        path = f"/webhooks/twilio/{twilio_workspace.id}/status?message_id={message.id}"
        params = status_params(message_sid=message.provider_sid, status=status)
        headers = signature_headers("http://testserver" + path, params, twilio_account.auth_token)
        response = client.post(path, params, headers=headers)
        assert response.status_code == 204, response.content
        return response

    return post


def sent_messages(workspace, n: int) -> list[Message]:
    return Message.objects.bulk_create(
        [
            Message(
                workspace=workspace,
                direction="outbound",
                status=Status.SENT,
                to_number=CONTACT,
                from_number=TWILIO_LONG_CODE,
                body=f"Hi {i}",
                provider_sid=new_sid("SM"),
            )
            for i in range(n)
        ]
    )


def batches() -> int:
    """How many batches applied the events (a batch marks its events at one instant)."""
    return CarrierEvent.objects.values("processed_at").distinct().count()


def in_thread(function, **kwargs) -> tuple[threading.Thread, list]:
    answer: list = []

    def run() -> None:
        try:
            answer.append(function(**kwargs))
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, answer


def test_many_stored_events_make_one_wake_up_and_none_while_a_runner_works(
    broker, twilio_workspace, post_status
):
    messages = sent_messages(twilio_workspace, 5)
    for message in messages:
        post_status(message, "delivered")
    assert broker() == 1  # one task for the five
    assert CarrierEvent.objects.filter(processed_at__isnull=True).count() == 5

    token = wakeup.runner_lease(2, key=wakeup.EVENTS_RUNNERS_KEY)
    wakeup.events_runner_alive(token)
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.EVENTS_PENDING_KEY)
    wakeup.events_runner_alive(token)  # the runner holds the wake-up again at its next batch
    for message in sent_messages(twilio_workspace, 3):
        post_status(message, "delivered")
    assert broker() == 1  # the runner takes them from the table

    wakeup.events_runner_done(token)
    post_status(sent_messages(twilio_workspace, 1)[0], "delivered")
    assert broker() == 2  # no runner at work: the next event wakes one


def test_a_runner_gathers_callbacks_that_keep_coming_into_few_batches_then_stops(
    broker, twilio_workspace, post_status, settings
):
    settings.CARRIER_EVENT_LINGER_SECONDS = 0.2
    settings.CARRIER_EVENT_IDLE_SECONDS = 0.6
    messages = sent_messages(twilio_workspace, 40)
    runner, taken = in_thread(carrier_events.carrier_events_run)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    deadline = time.monotonic() + 10
    while not client.exists(wakeup.EVENTS_PENDING_KEY) and time.monotonic() < deadline:
        time.sleep(0.01)

    started = time.monotonic()
    for message in messages:  # a hundred callbacks a second or so, one after another
        post_status(message, "delivered")
        time.sleep(0.005)
    posting = time.monotonic() - started
    runner.join(timeout=20)

    assert not runner.is_alive() and taken == [40]
    assert Message.objects.filter(status=Status.DELIVERED).count() == 40
    assert MessageEvent.objects.filter(status=Status.DELIVERED).count() == 40
    # Each batch took what came in its pause (0.2 s), not one or two callbacks.
    assert batches() <= min(posting / 0.2 + 2, 40 / 4), posting
    assert broker() == 0  # while it worked, the webhooks woke no other task
    assert not client.exists(wakeup.EVENTS_PENDING_KEY)  # stopped: the next event wakes a runner
    assert client.zcard(wakeup.EVENTS_RUNNERS_KEY) == 0


def test_statuses_split_over_two_runners_batches_end_in_the_right_state(
    broker, twilio_workspace, post_status, settings
):
    """Two runners at once, each with its own batches of the same messages' callbacks, stored
    newest status first: every message ends delivered, its history never going backwards and
    no step recorded twice (a `sent` that comes after `delivered` changes nothing)."""
    settings.CARRIER_EVENT_BATCH_SIZE = 10
    settings.CARRIER_EVENT_RUNNERS_PER_PROCESS = 2
    settings.CARRIER_EVENT_IDLE_SECONDS = 0.3
    messages = sent_messages(twilio_workspace, 30)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(status=Status.SENDING)
    for status in ("delivered", "sent", "sending"):
        for message in messages:
            post_status(message, status)
    runners = [in_thread(carrier_events.carrier_events_run) for _ in range(2)]
    for thread, _ in runners:
        thread.join(timeout=30)

    assert sum(answer[0] for _, answer in runners) == 90
    assert Message.objects.filter(status=Status.DELIVERED).count() == 30
    for message in messages:
        history = list(
            MessageEvent.objects.filter(message=message).order_by("id").values_list("status", flat=True)
        )
        assert history in ([Status.DELIVERED], [Status.SENT, Status.DELIVERED]), history


def test_events_a_killed_runner_left_behind_are_applied_after_the_tick(
    broker, twilio_workspace, post_status, settings
):
    """A runner killed while it held the wake-up: the webhooks woke nobody. Once its wake-up
    has run out, beat's tick finds the events and wakes a runner, which applies them."""
    settings.CARRIER_EVENT_WAKE_PENDING_MS = 2000
    settings.CARRIER_EVENT_IDLE_SECONDS = 0.2
    dead = wakeup.runner_lease(2, key=wakeup.EVENTS_RUNNERS_KEY, seconds=2)
    wakeup.events_runner_alive(dead)  # and then nothing: killed
    messages = sent_messages(twilio_workspace, 5)
    for message in messages:
        post_status(message, "delivered")
    assert broker() == 0
    assert not carrier_events.carrier_events_tick(older_than_seconds=60)  # too young yet

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    deadline = time.monotonic() + 5
    while client.exists(wakeup.EVENTS_PENDING_KEY) and time.monotonic() < deadline:
        time.sleep(0.05)  # the dead runner's hold on the wake-up runs out
    assert carrier_events.carrier_events_tick(older_than_seconds=0)
    assert broker() == 1
    assert carrier_events.carrier_events_run() == 5  # what that task does
    assert Message.objects.filter(status=Status.DELIVERED).count() == 5


def test_webhooks_within_the_memo_ask_redis_nothing_and_a_stopping_runner_waits_it_out(
    broker, twilio_workspace, post_status, settings, monkeypatch
):
    settings.CARRIER_EVENT_WAKE_MEMO_MS = 300
    sets: list[str] = []
    original_set = redis.Redis.set

    def spy_set(self, name, *args, **kwargs):
        sets.append(name)
        return original_set(self, name, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "set", spy_set)
    for message in sent_messages(twilio_workspace, 4):
        post_status(message, "delivered")
    # The first one's SET NX only (the other SETs are the cache's).
    assert [name for name in sets if name == wakeup.EVENTS_PENDING_KEY] == [wakeup.EVENTS_PENDING_KEY]
    assert broker() == 1

    token = wakeup.runner_lease(2, key=wakeup.EVENTS_RUNNERS_KEY)
    started = time.monotonic()
    wakeup.events_runner_done(token)
    assert time.monotonic() - started >= 0.3


def test_an_event_stored_while_a_runner_stops_is_applied_though_its_wake_up_was_skipped(
    broker, twilio_workspace, post_status, settings, monkeypatch
):
    """The runner cleared the pending key, and a webhook whose process saw the key held a moment
    before skips its wake-up on the memo: no task comes for it, and the runner's last look,
    which waits out the memo, applies it."""
    settings.CARRIER_EVENT_IDLE_SECONDS = 0  # it stops at its first empty batch
    settings.CARRIER_EVENT_WAKE_MEMO_MS = 2000  # room for the webhook in the test's thread
    first, late = sent_messages(twilio_workspace, 2)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    real_sleep = wakeup.time.sleep

    class Clock:  # the runner's wait after clearing the key: a webhook comes in meanwhile
        monotonic = staticmethod(time.monotonic)
        time = staticmethod(time.time)

        @staticmethod
        def sleep(seconds):
            assert not client.exists(wakeup.EVENTS_PENDING_KEY)  # cleared: a SET NX would succeed
            post_status(late, "delivered")
            assert not client.exists(wakeup.EVENTS_PENDING_KEY)  # the memo skipped it
            assert broker() == 1  # and no task came for it
            real_sleep(seconds)

    post_status(first, "delivered")  # its wake-up sets the key, and this process's memo
    assert broker() == 1
    monkeypatch.setattr(wakeup, "time", Clock)
    assert carrier_events.carrier_events_run() == 2
    assert set(Message.objects.filter(pk__in=[first.pk, late.pk]).values_list("status", flat=True)) == {
        Status.DELIVERED
    }
