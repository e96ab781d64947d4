"""After a send is stored, its `message.created` event and the delivery engine's wake-up go to
Redis together (one pipeline: the PUBLISH, then the wake-up's SET NX); the wake-up still makes
one task while one is pending, and a new one once the runner is done. While the process knows the
key held, a send's wake-up asks Redis nothing, and a message whose wake-up was skipped so is
still sent."""

import time

import redis
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from conftest import require_service
from messaging import dispatch, events, wakeup
from messaging.dispatch import runners
from messaging.models import Message, Status

URL = "/api/messages"


def _subscriber(client: redis.Redis, workspace_id: str):
    layer = get_channel_layer()
    pubsub = client.pubsub()
    pubsub.subscribe(f"{layer._kwargs.get('prefix', 'asgi')}__group__{events.workspace_group(workspace_id)}")
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    return pubsub


def test_a_send_publishes_and_wakes_the_engine_in_one_trip(
    api_client, our_number, workspace, settings, django_capture_on_commit_callbacks, monkeypatch
):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    publisher = events._sync_publisher(get_channel_layer())
    assert publisher is not None and publisher.on_redis_url  # the channel layer is on REDIS_URL
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(wakeup.PENDING_KEY)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(queue)
    own_trips: list[str] = []  # keys SET on a round trip of its own, not in a pipeline
    original_set = redis.Redis.set

    def spy_set(self, name, *args, **kwargs):
        if not isinstance(self, redis.client.Pipeline):
            own_trips.append(name)
        return original_set(self, name, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "set", spy_set)
    subscriber = _subscriber(client, workspace.id)
    try:
        for n in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                response = api_client.post(URL, {"to": f"+1415555000{n}", "body": "hi"}, format="json")
            assert response.status_code == 201
            frame = subscriber.get_message(timeout=2)
            assert frame is not None and response.json()["id"].encode() in frame["data"]
        assert client.llen(queue) == before + 1  # one task while it is pending
        assert client.exists(wakeup.PENDING_KEY)
        wakeup.dispatch_runner_done(wakeup.NO_REDIS)  # the runner is done: the next send wakes again
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                api_client.post(URL, {"to": "+14155550009", "body": "hi"}, format="json").status_code == 201
            )
        assert client.llen(queue) == before + 2
        assert wakeup.PENDING_KEY not in own_trips  # the SET NX went in the publish's pipeline
        assert Message.objects.count() == 4
    finally:
        subscriber.close()
        for _ in range(client.llen(queue) - before):
            client.rpop(queue)
        client.delete(wakeup.PENDING_KEY)


def test_sends_while_a_runner_holds_the_key_ask_redis_nothing_more_for_the_wake_up(
    api_client, our_number, workspace, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """Once a send saw the pending key held, the sends that follow within DISPATCH_WAKE_MEMO_MS
    send no SET NX and no task, and are published all the same."""
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.DISPATCH_WAKE_MEMO_MS = 60_000  # the whole test long
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(queue)
    token = wakeup.runner_lease(4)
    wakeup.dispatch_runner_alive(token)  # a runner at work holds the key
    sets: list[str] = []
    original_set = redis.Redis.set

    def spy_set(self, name, *args, **kwargs):
        sets.append(name)
        return original_set(self, name, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "set", spy_set)
    subscriber = _subscriber(client, workspace.id)
    try:
        for n in range(4):
            with django_capture_on_commit_callbacks(execute=True):
                response = api_client.post(URL, {"to": f"+1415555000{n}", "body": "hi"}, format="json")
            assert response.status_code == 201
            frame = subscriber.get_message(timeout=2)
            assert frame is not None and response.json()["id"].encode() in frame["data"]
        # The first send's, refused: held by the runner.
        assert [name for name in sets if name == wakeup.PENDING_KEY] == [wakeup.PENDING_KEY]
        assert client.llen(queue) == before
        assert client.ping()  # the publishes left no answer behind on the connections
        assert Message.objects.count() == 4
    finally:
        subscriber.close()
        wakeup.release_runner_lease(token)
        client.delete(wakeup.PENDING_KEY)


def test_a_stopping_runner_waits_out_the_memo_before_its_last_look(settings):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.DISPATCH_WAKE_MEMO_MS = 300
    token = wakeup.runner_lease(4)
    wakeup.dispatch_runner_alive(token)
    started = time.monotonic()
    wakeup.dispatch_runner_done(token)
    assert time.monotonic() - started >= 0.3
    assert not redis.Redis.from_url(django_settings.REDIS_URL).exists(wakeup.PENDING_KEY)


def test_a_message_accepted_while_a_runner_stops_is_sent_though_its_wake_up_was_skipped(
    api_client, twilio_workspace, fake_twilio, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The runner cleared the pending key, and a send that had seen the key held a moment
    before skips its wake-up on this process's memo: no task comes for it, and the runner's
    last look, which waits out the memo, sends it."""
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = False
    settings.DISPATCH_IDLE_SECONDS = 0  # it stops at its first empty round
    settings.DISPATCH_WAKE_MEMO_MS = 2000  # room for the send in the test's thread
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    published = []
    monkeypatch.setattr(
        wakeup.app.tasks[wakeup.DISPATCH_TASK], "apply_async", lambda **kw: published.append(kw)
    )
    sent: list[str] = []

    def send(n: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(URL, {"to": f"+1415555010{n}", "body": f"late {n}"}, format="json")
        assert response.status_code == 201
        sent.append(response.json()["id"])

    def nothing_due_then_a_send(scope):
        send(0)  # its wake-up finds the key held by this runner: the memo is set
        return None

    real_sleep = wakeup.time.sleep

    class Clock:  # the runner's wait after clearing the key: a send comes in meanwhile
        monotonic = staticmethod(time.monotonic)
        time = staticmethod(time.time)

        @staticmethod
        def sleep(seconds):
            assert not client.exists(wakeup.PENDING_KEY)  # cleared: a SET NX would succeed
            send(1)
            assert not client.exists(wakeup.PENDING_KEY)  # the memo skipped it
            real_sleep(seconds)

    monkeypatch.setattr(runners, "next_due_in", nothing_due_then_a_send)
    monkeypatch.setattr(wakeup, "time", Clock)
    assert dispatch.run_rounds() == 2
    assert {m.status for m in Message.objects.filter(pk__in=sent)} == {Status.SENT}
    assert len(fake_twilio.messages) == 2
    # No task for either send; the last look found work, so a fresh task carries on.
    assert published == [{"kwargs": None, "countdown": None, "expires": 60}]
