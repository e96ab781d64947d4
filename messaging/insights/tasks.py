"""The insights app's periodic task (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from .rollup import insights_rollup


@shared_task(ignore_result=True)
def rollup_insights() -> None:
    insights_rollup()
