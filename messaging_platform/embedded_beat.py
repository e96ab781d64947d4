"""The embedded default's beat: with tasks eager and no Celery beat process (`make run`), a thread
of the server runs the periodic tasks of CELERY_BEAT_SCHEDULE itself, so that scheduled messages,
quiet hours, broadcasts, retries and webhook redeliveries come due there as in production."""

import logging
import threading
import time

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = False
_lock = threading.Lock()


def _run(schedule: dict[str, dict]) -> None:
    due = {name: time.monotonic() + float(entry["schedule"]) for name, entry in schedule.items()}
    while True:
        now = time.monotonic()
        for name, at in due.items():
            if at > now:
                continue
            entry = schedule[name]
            due[name] = now + float(entry["schedule"])
            try:
                current_app.tasks[entry["task"]].apply()
            except Exception:
                logger.exception("Periodic task %s failed", name)
            finally:
                close_old_connections()
        time.sleep(max(0.2, min(due.values()) - time.monotonic()))


def register_tasks() -> None:
    """Every app's tasks.py, as a worker or beat process imports them at start (a schedule's task
    from an app not imported yet would fail each time it comes due)."""
    current_app.loader.import_default_modules()


def start_in_process() -> None:
    """Start the periodic tasks in a daemon thread, once per process."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    register_tasks()

    threading.Thread(
        target=_run, args=(dict(settings.CELERY_BEAT_SCHEDULE),), name="embedded-beat", daemon=True
    ).start()
