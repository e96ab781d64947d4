"""Message media copied to our own store: what is kept, what is refused, who may read it."""

import pytest

from messaging.media_store.models import StoredMedia
from messaging.media_store.services import message_media_fetch
from messaging.models import Direction, Message, Status
from messaging_platform.testing.media_server import PNG, MediaServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the test server is on loopback
    settings.MEDIA_MAX_BYTES = 16 * 1024
    with MediaServer(big_size=32 * 1024) as server:
        yield server


def inbound(workspace, *urls) -> Message:
    return Message.objects.create(
        workspace=workspace,
        direction=Direction.INBOUND,
        status=Status.RECEIVED,
        to_number="+12015550123",
        from_number="+14155552671",
        body="",
        media_urls=list(urls),
    )


def test_images_are_stored_and_everything_else_is_refused_with_a_reason(workspace, media):
    message = inbound(
        workspace,
        *(
            f"{media.url}{path}"
            for path in ("/ok.png", "/moved", "/evil.svg", "/lying.png", "/big.png", "/missing")
        ),
    )
    message_media_fetch(message_id=message.pk)
    stored = {m.position: m for m in StoredMedia.objects.filter(message=message)}
    assert bytes(stored[0].data) == PNG and stored[0].content_type == "image/png"
    assert bytes(stored[1].data) == PNG  # the redirect was followed (and checked)
    assert "allowed type" in stored[2].error and stored[2].data is None  # SVG can carry script
    assert "allowed type" in stored[3].error  # named a PNG, is HTML
    assert "larger than 16384 bytes" in stored[4].error
    assert "HTTP 404" in stored[5].error
    # Idempotent: a second run fetches nothing again.
    before = len(media.requests)
    assert message_media_fetch(message_id=message.pk) == []
    assert len(media.requests) == before


def test_private_addresses_and_other_schemes_are_never_fetched(workspace, media, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    message = inbound(
        workspace, f"{media.url}/ok.png", "javascript:alert(5)", "http://169.254.169.254/latest/meta-data/"
    )
    message_media_fetch(message_id=message.pk)
    errors = list(
        StoredMedia.objects.filter(message=message).order_by("position").values_list("error", flat=True)
    )
    assert "private" in errors[0] and "http(s)" in errors[1] and "private" in errors[2]
    assert media.requests == []


def test_only_members_of_the_workspace_read_the_media(
    workspace, other_workspace, user, client, outsider, media
):
    message = inbound(workspace, f"{media.url}/ok.png")
    message_media_fetch(message_id=message.pk)
    url = f"/w/{workspace.pk}/messages/{message.pk}/media/0"
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200 and response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert client.get(f"/w/{workspace.pk}/messages/{message.pk}/media/1").status_code == 404

    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.get(f"/w/{other_workspace.pk}/messages/{message.pk}/media/0").status_code == 404
