from celery import shared_task

from . import callbacks


# A hard limit, beyond the HTTP timeouts, so that no receiver can hold a worker.
@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=90)
def deliver_callback(delivery_id: str) -> None:
    callbacks.callback_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def sweep_callbacks() -> None:
    callbacks.sweep_callbacks()
