"""Copying a message's media to our own store, and reading it back for the pages.

Pages never load a carrier's (or anyone's) media URL directly: the Content-Security-Policy allows
images from our own origin only, and a URL could track the reader or point at anything. After a
message with media is filed, a task fetches each http(s) URL (public addresses only, redirects
checked hop by hop), keeps it when it is an image of an allowed type (checked from the bytes, not
only the header) within MEDIA_MAX_BYTES, and the page shows it from /w/{ws}/messages/{id}/media/{n}.
"""

import logging
from typing import Any
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.db import IntegrityError, transaction

from messaging.models import Message
from messaging.urlsafety import UnsafeUrl, check_public_url

from .models import StoredMedia

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# Image types a browser shows in <img> without running anything (no SVG: it can carry script).
MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


class MediaRefused(Exception):
    """The file was not stored; str(exc) says why, in words for the page."""


def sniff_type(data: bytes) -> str | None:
    for content_type, signatures in MAGIC.items():
        if any(data.startswith(signature) for signature in signatures):
            if content_type == "image/webp" and data[8:12] != b"WEBP":
                continue
            return content_type
    return None


def _download(url: str) -> tuple[str, bytes]:
    limit = settings.MEDIA_MAX_BYTES
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_public_url(url)
        except UnsafeUrl as exc:
            raise MediaRefused(str(exc)) from exc
        try:
            with requests.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS),
            ) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("Location", ""))
                    continue
                if response.status_code != 200:
                    raise MediaRefused(f"The media URL answered HTTP {response.status_code}.")
                declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > limit:
                    raise MediaRefused(f"The file is larger than {limit} bytes.")
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data.extend(chunk)
                    if len(data) > limit:
                        raise MediaRefused(f"The file is larger than {limit} bytes.")
        except requests.RequestException as exc:
            raise MediaRefused("The media URL could not be reached.") from exc
        actual = sniff_type(bytes(data[:16]))
        if actual is None or declared not in MAGIC:
            raise MediaRefused(f"Not an image of an allowed type ({declared or 'no type'}).")
        return actual, bytes(data)
    raise MediaRefused("Too many redirects.")


def message_media_fetch(*, message_id: str) -> list[StoredMedia]:
    """Copy the media files of a message that are not stored yet (idempotent)."""
    message = Message.objects.filter(pk=message_id).only("id", "workspace_id", "media_urls").first()
    if message is None:
        return []
    done = set(StoredMedia.objects.filter(message=message).values_list("position", flat=True))
    stored = []
    for position, url in enumerate(message.media_urls or []):
        if position in done:
            continue
        record = StoredMedia(
            workspace_id=message.workspace_id, message=message, position=position, source_url=str(url)[:2000]
        )
        try:
            record.content_type, record.data = _download(str(url))
            record.size = len(record.data)
        except MediaRefused as exc:
            record.error = str(exc)[:255]
            logger.info("Media %s of %s not stored: %s", position, message_id, exc)
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:  # another run stored it meanwhile
            continue
        stored.append(record)
    return stored


def message_media(*, message: Message, position: int) -> StoredMedia | None:
    """The stored file of a message (already scoped to the reader's workspace by the caller)."""
    return (
        StoredMedia.objects.for_workspace(message.workspace)
        .filter(message=message, position=position)
        .first()
    )


def on_platform_events(workspace_id: str, events: list[dict[str, Any]]) -> None:
    """EVENT_SINKS: copy the media of each new message that has some."""
    from .tasks import fetch_message_media

    for event in events:
        data = event.get("data") or {}
        if event.get("type") == "message.created" and data.get("media_urls"):
            fetch_message_media.delay(data["id"])
