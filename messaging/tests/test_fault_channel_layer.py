"""The channel layer (Redis) unreachable: sends still succeed, fast, and the failure is logged; once
it is back, live events reach connected clients again without them reconnecting."""

import logging
import shutil
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from accounts.services import session_token_issue
from conftest import require_service
from messaging.events import publish_event
from messaging.models import Message, Status
from messaging_platform.asgi import application
from messaging_platform.testing.stack import PrivateRedis, free_port

pytestmark = pytest.mark.django_db

LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"  # as settings.py configures it


def layer_at(url: str) -> dict:
    return {
        "default": {
            "BACKEND": LAYER,
            "CONFIG": {"hosts": [{"address": url, "socket_connect_timeout": 1, "socket_timeout": 1}]},
        }
    }


@pytest.fixture
def dead_channel_layer(settings):
    # Nothing listens on this port: every publish fails.
    settings.CHANNEL_LAYERS = layer_at(f"redis://127.0.0.1:{free_port()}/0")
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_sends_succeed_and_do_not_hang_when_the_channel_layer_is_down(dead_channel_layer, send, caplog):
    caplog.set_level(logging.ERROR, logger="messaging.events")
    started = time.monotonic()
    answers = [send(body=f"Hello {n}") for n in range(5)]
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * 5
    assert Message.objects.filter(status=Status.DELIVERED).count() == 5
    assert elapsed < 20, elapsed  # bounded by the 1 s timeouts, not by a hang
    assert "Could not publish" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_live_events_resume_for_a_connected_client_once_redis_is_back(settings, member, workspace, caplog):
    require_service("redis-server (for a private Redis to restart)", bool(shutil.which("redis-server")))
    caplog.set_level(logging.ERROR, logger="messaging.events")
    token = session_token_issue(user=member).token
    with PrivateRedis() as redis:
        settings.CHANNEL_LAYERS = layer_at(redis.url)
        channel_layers.backends.clear()

        def event(n: str) -> dict:
            return {"id": f"evt_{n}", "type": "message.created", "data": {"id": f"msg_{n}"}}

        async def scenario() -> list[str]:
            communicator = WebsocketCommunicator(
                application,
                f"/ws/workspaces/{workspace.id}/",
                headers=[(b"authorization", f"Bearer {token}".encode())],
            )
            assert (await communicator.connect(timeout=5))[0]
            await sync_to_async(publish_event)(workspace.id, event("before"))
            assert (await communicator.receive_json_from(timeout=5))["id"] == "evt_before"

            redis.stop()
            started = time.monotonic()
            await sync_to_async(publish_event)(workspace.id, event("down"))  # logged, not raised
            assert time.monotonic() - started < 10
            redis.start()  # same port, empty

            # At most once: what is published before this process has subscribed again is lost
            # (clients re-sync with catch_up); after that, events flow again on the same socket.
            heard: list[str] = []
            deadline = time.monotonic() + 20
            n = 0
            while not heard and time.monotonic() < deadline:
                n += 1
                await sync_to_async(publish_event)(workspace.id, event(f"after{n}"))
                # receive_nothing waits without ending the application, as a timeout would.
                if not await communicator.receive_nothing(timeout=0.5):
                    heard.append((await communicator.receive_json_from(timeout=5))["id"])
            await communicator.disconnect()
            return heard

        try:
            heard = async_to_sync(scenario)()
        finally:
            channel_layers.backends.clear()
    assert heard and heard[0].startswith("evt_after"), heard
    assert "Could not publish" in caplog.text
