"""The Celery application. Tasks are discovered in each app's tasks.py."""

import os

from celery import Celery
from celery.concurrency.thread import TaskPool as ThreadTaskPool
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")

app = Celery("messaging_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# How long a task finished in a pool thread may wait for the worker's event loop to notice.
THREAD_POOL_WAKE_SECONDS = 0.05


@worker_ready.connect
def wake_the_event_loop_for_thread_pools(sender=None, **kwargs) -> None:
    """With the threads pool, a task that finishes in a pool thread does not wake the worker's
    event loop (celery/celery#6941): its late ack, and so the fetch of the next tasks once the
    prefetch limit is reached, waits for the next network event or timer. Under a backlog the
    worker then sat idle for seconds between rounds of prefetched tasks. A short repeating timer
    bounds that wait."""
    if sender is not None and isinstance(getattr(sender, "pool", None), ThreadTaskPool):
        sender.timer.call_repeatedly(THREAD_POOL_WAKE_SECONDS, _noop)


def _noop() -> None:
    pass
