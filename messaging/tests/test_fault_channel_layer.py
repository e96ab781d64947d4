"""The channel layer (Redis) unreachable: sends still succeed, fast, and the failure is logged."""

import logging
import time

import pytest
from channels.layers import channel_layers

from messaging.models import Message, Status
from messaging_platform.testing.stack import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_channel_layer(settings):
    # Nothing listens on this port: every publish fails.
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0",
                              "socket_connect_timeout": 1, "socket_timeout": 1}]},
    }}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_sends_succeed_and_do_not_hang_when_the_channel_layer_is_down(dead_channel_layer, send,
                                                                      caplog):
    caplog.set_level(logging.ERROR, logger="messaging.events")
    started = time.monotonic()
    answers = [send(body=f"Hello {n}") for n in range(5)]
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * 5
    assert Message.objects.filter(status=Status.DELIVERED).count() == 5
    assert elapsed < 20, elapsed  # bounded by the 1 s timeouts, not by a hang
    assert "Could not publish" in caplog.text
