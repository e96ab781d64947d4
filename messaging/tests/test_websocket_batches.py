"""A batch's events travel to daphne together (one PUBLISH per 100) and reach every socket as one
frame per event, in order."""

import pytest
from channels.testing import WebsocketCommunicator

from messaging import events
from messaging.tests.test_websocket import TIMEOUT, bearer, path, run, token_for
from messaging_platform.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_of_events_arrives_as_one_frame_each_in_order(member, workspace, monkeypatch):
    token = token_for(member)
    batch = [
        {"id": f"evt_{n}", "type": "message.created", "data": {"id": f"msg_{n}", "body": "é"}}
        for n in range(250)
    ]
    published = []
    original = events.layer_messages

    def counting(texts):
        messages = original(texts)
        published.extend(messages)
        return messages

    monkeypatch.setattr(events, "layer_messages", counting)

    async def scenario():
        from asgiref.sync import sync_to_async

        sockets = [
            WebsocketCommunicator(application, path(workspace), headers=bearer(token)) for _ in range(2)
        ]
        for socket in sockets:
            assert (await socket.connect(timeout=TIMEOUT))[0]
        await sync_to_async(events.publish_events)(workspace.id, batch)
        for socket in sockets:
            received = [await socket.receive_json_from(timeout=TIMEOUT) for _ in batch]
            assert received == batch
            assert await socket.receive_nothing(timeout=0.2)
            await socket.disconnect()

    run(scenario)
    assert [len(m["texts"]) for m in published] == [100, 100, 50]


def test_a_single_event_is_one_layer_message_with_its_text():
    assert events.layer_messages(["{}"]) == [{"type": "workspace.event", "text": "{}"}]
