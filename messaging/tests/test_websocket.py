"""The workspace WebSocket through the real ASGI application (Channels' WebsocketCommunicator):
who may connect, what frames it gets, and how it answers the client's frames."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from accounts.models import SessionToken
from accounts.services import session_token_issue
from messaging.events import publish_event
from messaging.models import Direction, Message, Status
from messaging_platform.asgi import application
from workspaces.models import Membership
from workspaces.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


def path(workspace) -> str:
    return f"/ws/workspaces/{workspace.id}/"


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def token_for(user) -> str:
    return session_token_issue(user=user).token


def key_for(user, workspace) -> str:
    return api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="ws").key


def cookie_headers(user, origin: str | None) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return headers


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


def refused(ws_path: str, headers: list) -> bool:
    async def attempt():
        communicator = WebsocketCommunicator(application, ws_path, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect()
        return not connected

    return run(attempt)


def make_message(
    workspace, *, updated_at: datetime, body: str = "Hi", direction: str = Direction.OUTBOUND
) -> Message:
    message = Message.objects.create(
        workspace=workspace,
        direction=direction,
        status=Status.SENT,
        to_number="+14155552671",
        from_number="+12015550123",
        body=body,
    )
    Message.objects.filter(pk=message.pk).update(updated_at=updated_at)
    message.refresh_from_db()
    return message


# Who may connect --------------------------------------------------------------------------------


def test_a_member_with_a_session_token_receives_the_workspaces_events(member, workspace, other_workspace):
    token = token_for(member)

    async def scenario():
        communicator = WebsocketCommunicator(application, path(workspace), headers=bearer(token))
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        event = {"id": "evt_1", "type": "message.created", "data": {"id": "msg_1"}}
        await sync_to_async(publish_event)(other_workspace.id, {**event, "id": "evt_other"})
        await sync_to_async(publish_event)(workspace.id, event)
        assert await communicator.receive_json_from(timeout=TIMEOUT) == event
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(scenario)


def test_every_socket_of_a_workspace_gets_each_event_through_one_subscription(member, workspace):
    from messaging import consumers

    token = token_for(member)

    async def scenario():
        first, second = (
            WebsocketCommunicator(application, path(workspace), headers=bearer(token)) for _ in range(2)
        )
        assert (await first.connect(timeout=TIMEOUT))[0]
        assert (await second.connect(timeout=TIMEOUT))[0]
        fanouts = consumers._fanouts[asyncio.get_running_loop()]
        assert len(fanouts[f"workspace.{workspace.id}"].members) == 2
        event = {"id": "evt_1", "type": "message.created", "data": {"id": "msg_1"}}
        await sync_to_async(publish_event)(workspace.id, event)
        assert await first.receive_json_from(timeout=TIMEOUT) == event
        assert await second.receive_json_from(timeout=TIMEOUT) == event

        await first.disconnect()  # the other socket keeps receiving
        await sync_to_async(publish_event)(workspace.id, {**event, "id": "evt_2"})
        assert (await second.receive_json_from(timeout=TIMEOUT))["id"] == "evt_2"
        await second.disconnect()
        assert fanouts == {}  # the last one out ended the subscription

    run(scenario)


def test_an_api_key_of_the_workspace_may_connect(user, workspace):
    key = key_for(user, workspace)
    assert not refused(path(workspace), bearer(key))


def test_the_browsers_cookie_session_may_connect_from_an_allowed_origin(member, workspace, settings):
    settings.ALLOWED_HOSTS = ["platform.example.com"]
    assert not refused(path(workspace), cookie_headers(member, "https://platform.example.com"))


def test_a_trusted_origin_may_use_the_cookie_session(member, workspace, settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert not refused(path(workspace), cookie_headers(member, "https://app.example.com"))


@pytest.mark.parametrize("origin", ["https://evil.example.net", None, "null"])
def test_a_cookie_session_from_another_origin_is_refused(member, workspace, settings, origin):
    settings.ALLOWED_HOSTS = ["platform.example.com"]
    assert refused(path(workspace), cookie_headers(member, origin))


def test_no_credentials_are_refused(workspace):
    assert refused(path(workspace), [(b"origin", b"http://localhost")])


def test_an_unknown_workspace_is_refused(member):
    assert refused("/ws/workspaces/ws_doesnotexist/", bearer(token_for(member)))


def test_an_expired_session_token_is_refused(member, workspace):
    token = token_for(member)
    SessionToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert refused(path(workspace), bearer(token))


@pytest.mark.parametrize(
    "header", [b"Bearer", b"Bearer mp_sess_wrong", b"Basic dXNlcjpwYXNz", b"Bearer mp_live_wrong"]
)
def test_wrong_tokens_are_refused(workspace, header):
    assert refused(path(workspace), [(b"authorization", header)])


def test_a_member_of_another_workspace_is_refused(outsider, other_workspace, workspace):
    assert refused(path(workspace), bearer(token_for(outsider)))


def test_another_workspaces_api_key_is_refused(outsider, other_workspace, workspace):
    assert refused(path(workspace), bearer(key_for(outsider, other_workspace)))


def test_a_revoked_api_key_is_refused(user, workspace):
    key = key_for(user, workspace)
    membership = Membership.objects.get(user=user, workspace=workspace)
    from workspaces.models import ApiKey

    api_key_revoke(actor=membership, api_key_id=ApiKey.objects.get().id)
    assert refused(path(workspace), bearer(key))


def test_a_disabled_workspace_is_refused_to_members_and_keys(user, workspace):
    token, key = token_for(user), key_for(user, workspace)
    workspace.is_active = False
    workspace.save()
    assert refused(path(workspace), bearer(token))
    assert refused(path(workspace), bearer(key))


# Client frames ----------------------------------------------------------------------------------


def converse(workspace, user, frames: list, replies: int = 1):
    """Connect as `user`, send `frames` (str as is, else JSON), collect the server's outputs."""
    token = token_for(user)

    async def scenario():
        communicator = WebsocketCommunicator(application, path(workspace), headers=bearer(token))
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        outputs = []
        for frame in frames:
            if isinstance(frame, str):
                await communicator.send_to(text_data=frame)
            elif isinstance(frame, bytes):
                await communicator.send_to(bytes_data=frame)
            else:
                await communicator.send_json_to(frame)
        for _ in range(replies):
            outputs.append(await communicator.receive_output(timeout=TIMEOUT))
        await communicator.disconnect()
        return outputs

    return run(scenario)


def test_ping_is_answered_with_pong(member, workspace):
    [output] = converse(workspace, member, [{"type": "ping"}])
    assert output == {"type": "websocket.send", "text": '{"type": "pong"}'}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"type": "subscribe"}',
        '{"no": "type"}',
        b"\x00binary",
        '{"type": "catch_up"}',
        '{"type": "catch_up", "since": "yesterday"}',
        '{"type": "catch_up", "since": 12}',
        "x" * 5000,
    ],
)
def test_a_malformed_or_unknown_frame_closes_with_4400(member, workspace, frame):
    [output] = converse(workspace, member, [frame])
    assert output["type"] == "websocket.close"
    assert output["code"] == 4400
    assert output["reason"]


def test_catch_up_answers_what_changed_since_oldest_first(member, workspace, other_workspace):
    base = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    make_message(workspace, updated_at=base, body="before")
    second = make_message(workspace, updated_at=base + timedelta(seconds=2), body="second")
    first = make_message(
        workspace, updated_at=base + timedelta(seconds=1), body="first", direction=Direction.INBOUND
    )
    make_message(other_workspace, updated_at=base + timedelta(seconds=3), body="theirs")

    outputs = converse(workspace, member, [{"type": "catch_up", "since": "2024-01-15T10:30:00Z"}], replies=3)
    import json

    frames = [json.loads(o["text"]) for o in outputs]
    assert [f["type"] for f in frames] == ["message.updated", "message.updated", "catch_up.done"]
    assert [f["data"]["id"] for f in frames[:2]] == [first.id, second.id]
    assert all(f["id"].startswith("evt_") for f in frames[:2])
    assert frames[2] == {"type": "catch_up.done", "count": 2, "more": False}


def test_catch_up_is_bounded_and_says_there_is_more(member, workspace, settings):
    settings.WEBSOCKET_CATCH_UP_LIMIT = 2
    base = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    for n in range(3):
        make_message(workspace, updated_at=base + timedelta(seconds=n + 1))
    outputs = converse(workspace, member, [{"type": "catch_up", "since": "2024-01-15T10:30:00"}], replies=3)
    assert outputs[-1]["text"] == '{"type": "catch_up.done", "count": 2, "more": true}'


def test_messages_sent_through_the_api_arrive_created_then_updated(member, workspace, api_client, our_number):
    """In-process: the simulator carrier and eager tasks walk the message to `delivered`."""
    token = token_for(member)

    async def scenario():
        communicator = WebsocketCommunicator(application, path(workspace), headers=bearer(token))
        assert (await communicator.connect(timeout=TIMEOUT))[0]
        response = await sync_to_async(api_client.post)(
            "/api/messages", {"to": "+14155552671", "body": "Live"}, format="json"
        )
        assert response.status_code == 201
        frames = []
        while not frames or frames[-1]["data"]["status"] != "delivered":
            frames.append(await communicator.receive_json_from(timeout=TIMEOUT))
        await communicator.disconnect()
        return response.json()["id"], frames

    message_id, frames = run(scenario)
    assert frames[0]["type"] == "message.created" and frames[0]["data"]["status"] == "queued"
    assert {f["type"] for f in frames[1:]} == {"message.updated"}
    assert all(f["data"]["id"] == message_id for f in frames)
    statuses = [f["data"]["status"] for f in frames]
    assert statuses.index("sending") < statuses.index("sent") < statuses.index("delivered")
