from celery import shared_task

from .services import message_media_fetch


@shared_task(acks_late=True, ignore_result=True)
def fetch_message_media(message_id: str) -> None:
    message_media_fetch(message_id=message_id)
