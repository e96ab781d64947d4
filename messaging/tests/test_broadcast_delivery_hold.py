"""Delivery yields to a broadcast being made (messaging/broadcasts/delivery_hold.py): while its
workers make it, only BROADCAST_DELIVERY_RUNNERS delivery runners can start; the rest can once it
is made, or once a worker that stopped without a word lets its hold run out."""

import time

import pytest
import redis
from django.conf import settings as django_settings

from conftest import require_service, uses_postgres
from messaging import broadcasts, wakeup
from messaging.broadcasts import delivery_hold, generation
from messaging.models import Contact, Message, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def runners(settings):
    """Real runner leases in the test Redis, with no broker consumer: answers a function that
    takes every delivery-runner lease still free (as runners starting would), gives them back
    and says how many there were, and one that counts the wake-ups published since."""
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.DISPATCH_RUNNERS = 4
    settings.BROADCAST_DELIVERY_RUNNERS = 1
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = (wakeup.RUNNERS_KEY, wakeup.PENDING_KEY, delivery_hold.HOLDER_KEY)
    client.delete(*keys)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(queue)

    def free() -> int:
        taken = []
        while (lease := wakeup.runner_lease(settings.DISPATCH_RUNNERS)) is not None:
            taken.append(lease)
        for lease in taken:
            wakeup.release_runner_lease(lease)
        return len(taken)

    yield free, lambda: client.llen(queue) - before
    for _ in range(client.llen(queue) - before):
        client.rpop(queue)
    client.delete(*keys)


def test_only_the_kept_delivery_runners_can_start_while_a_broadcast_is_made_and_all_once_it_is(
    runners, owner_client, workspace, our_number, settings, monkeypatch
):
    free, wake_ups = runners
    settings.BROADCAST_SLICE_CONTACTS = settings.BROADCAST_BATCH_CONTACTS = 10
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, phone_number=f"+1415555{n:04d}") for n in range(4000, 4035)]
    )
    response = owner_client.post(
        f"/api/ui/workspaces/{workspace.id}/broadcasts",
        {"name": "x", "body": "hi", "audience": {"all": True}},
        format="json",
    )
    assert response.status_code == 201, response.content
    store = generation._store
    free_while_making = []

    def store_and_look(*args):
        free_while_making.append(free())
        return store(*args)

    monkeypatch.setattr(generation, "_store", store_and_look)
    assert free() == 4
    broadcasts.broadcast_generate(broadcast_id=response.json()["id"])

    assert free_while_making == [1, 1, 1, 1]  # four batches, one runner free beside each
    assert free() == 4
    assert wake_ups() == 1  # the runners are woken for what was made
    messages = Message.objects.filter(broadcast_id=response.json()["id"])
    assert messages.count() == 35 and set(messages.values_list("status", flat=True)) == {Status.QUEUED}


def test_a_second_worker_holds_nothing_more_and_a_stopped_worker_s_hold_runs_out(runners, settings):
    free, wake_ups = runners
    settings.BROADCAST_HOLD_SECONDS = 1
    first, second = delivery_hold.DeliveryHold(), delivery_hold.DeliveryHold()
    first.renew()
    second.renew()
    assert free() == 1
    second.release()  # it held nothing: the first still does
    assert free() == 1 and wake_ups() == 0
    time.sleep(1.2)  # the first worker was killed: nobody renews its hold
    assert free() == 4
    second.renew()  # the next worker of a broadcast takes the hold up again
    assert free() == 1
    second.release()
    assert free() == 4 and wake_ups() == 1


def test_with_every_runner_kept_for_delivery_nothing_is_held(runners, settings):
    free, _ = runners
    settings.BROADCAST_DELIVERY_RUNNERS = 4
    hold = delivery_hold.DeliveryHold()
    hold.renew()
    assert free() == 4
    hold.release()
