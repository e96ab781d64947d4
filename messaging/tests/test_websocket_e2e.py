"""End to end on the real components: a daphne server (HTTP and WebSockets) and a Celery worker on
Redis (channels-redis layer) and PostgreSQL, the fake Twilio posting signed callbacks to daphne,
and WebSocket clients speaking the real protocol (the `websockets` library)."""

import json
import time

import pytest
import requests
from django.conf import settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from accounts.services import session_token_issue
from conftest import require_service, uses_postgres
from messaging.models import Message, Status
from messaging_platform.testing.processes import DaphneProcess, WorkerProcess
from workspaces.models import Membership
from workspaces.services import api_key_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACT = "+14155552671"


@pytest.fixture
def servers(settings, fake_twilio, twilio_account, user, twilio_workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    daphne = DaphneProcess()
    # Carrier callbacks go to daphne; the worker hands the carrier daphne's URL too.
    settings.PUBLIC_BASE_URL = daphne.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    fake_twilio.callbacks = True
    daphne.start()
    worker = WorkerProcess({"SWEEP_INTERVAL_SECONDS": "1"}).start()
    yield {"daphne": daphne, "worker": worker}
    worker.stop()
    daphne.stop()


def ws_connect(daphne: DaphneProcess, workspace_id: str, token: str) -> ClientConnection:
    return connect(
        f"{daphne.ws_url}/ws/workspaces/{workspace_id}/",
        open_timeout=10,
        additional_headers={"Authorization": f"Bearer {token}"},
    )


def refused_status(daphne: DaphneProcess, workspace_id: str, token: str) -> int | None:
    try:
        ws_connect(daphne, workspace_id, token).close()
    except InvalidStatus as exc:
        return exc.response.status_code
    return None


def frames_until(client: ClientConnection, done, *, timeout: float) -> list[dict]:
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while not frames or not done(frames[-1]):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"Timed out; frames so far: {frames}")
        frames.append(json.loads(client.recv(timeout=remaining)))
    return frames


def test_a_member_sees_a_message_go_from_queued_to_delivered_live(
    servers, user, workspace, member, outsider, other_workspace
):
    daphne = servers["daphne"]
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="e2e")

    # Refused at the handshake, before any frame: an outsider and a wrong token.
    assert refused_status(daphne, workspace.id, session_token_issue(user=outsider).token) == 403
    assert refused_status(daphne, workspace.id, "mp_sess_not-a-real-token") == 403
    assert refused_status(daphne, "ws_unknown", session_token_issue(user=member).token) == 403

    watcher = ws_connect(daphne, workspace.id, session_token_issue(user=member).token)
    dropper = ws_connect(daphne, workspace.id, key.key)  # an integrator that will lose its socket
    elsewhere = ws_connect(daphne, other_workspace.id, session_token_issue(user=outsider).token)
    watcher.send(json.dumps({"type": "ping"}))
    assert json.loads(watcher.recv(timeout=10)) == {"type": "pong"}  # subscribed by now

    response = requests.post(
        f"{daphne.url}/api/messages",
        json={"to": CONTACT, "body": "Live!"},
        headers={"Authorization": f"Bearer {key.key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    message_id = response.json()["id"]

    [created] = frames_until(dropper, lambda f: True, timeout=15)
    assert created["type"] == "message.created" and created["data"]["id"] == message_id
    dropper.close()  # the connection drops while the message moves on

    frames = frames_until(watcher, lambda f: f["data"]["status"] == "delivered", timeout=60)
    assert frames[0] == created | {"id": frames[0]["id"]}
    assert frames[0]["data"]["status"] == "queued"
    assert {f["type"] for f in frames[1:]} == {"message.updated"}
    assert all(f["data"]["id"] == message_id for f in frames)
    statuses = [f["data"]["status"] for f in frames]
    assert statuses.index("sending") < statuses.index("sent") < statuses.index("delivered")
    assert Message.objects.get(pk=message_id).status == Status.DELIVERED

    # The outsider's socket, on its own workspace, heard nothing of ours.
    with pytest.raises(TimeoutError):
        elsewhere.recv(timeout=1)
    elsewhere.close()
    watcher.close()

    # Reconnecting, the integrator catches up on what it missed since its last frame.
    again = ws_connect(daphne, workspace.id, key.key)
    again.send(json.dumps({"type": "catch_up", "since": created["data"]["updated_at"]}))
    caught = frames_until(again, lambda f: f["type"] == "catch_up.done", timeout=10)
    again.close()
    assert caught[-1] == {"type": "catch_up.done", "count": 1, "more": False}
    assert caught[0]["type"] == "message.updated"
    assert (caught[0]["data"]["id"], caught[0]["data"]["status"]) == (message_id, "delivered")


def test_the_daphne_server_answers_http_too(servers):
    response = requests.get(f"{servers['daphne'].url}/healthz", timeout=10)
    assert response.status_code in (200, 503)
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
