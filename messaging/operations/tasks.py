from celery import shared_task

from . import retention


@shared_task(ignore_result=True)
def apply_retention() -> None:
    retention.apply_retention()


@shared_task(ignore_result=True)
def evaluate_alerts() -> None:
    from . import alerts

    alerts.evaluate_alerts()
