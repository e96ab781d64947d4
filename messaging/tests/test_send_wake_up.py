"""After a send is stored, its `message.created` event and the delivery engine's wake-up go to
Redis together (one pipeline: the PUBLISH, then the wake-up's SET NX); the wake-up still makes
one task while one is pending, and a new one once the runner is done."""

import redis
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from conftest import require_service
from messaging import events, wakeup
from messaging.models import Message

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
