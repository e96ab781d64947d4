"""The send endpoints' lean path (messaging_platform/api/lean.py) answers what DRF's full path
answers: the same statuses, bodies and headers. A query string sends a request down the full path,
which is how these tests compare the two."""

import os

import pytest
import redis

from conftest import assert_error, require_service
from messaging.models import Message, OptOut
from messaging.tests.conftest import CONTACT, OUR_NUMBER
from messaging_platform.api import lean, throttling

pytestmark = pytest.mark.django_db

COMPARED_HEADERS = ["Content-Type", "Allow", "X-RateLimit-Limit", "Retry-After"]


def _shape(value):
    """The answer with the values that differ between two sends (ids, times) blanked."""
    if isinstance(value, dict):
        return {
            k: "*" if k in ("id", "sid", "created_at", "updated_at", "conversation_id") else _shape(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _both(api_client, path: str, body, monkeypatch) -> tuple:
    taken = []
    original = lean.integrator_post

    def spy(request, allowed, handler):
        response = original(request, allowed, handler)
        taken.append(response is not None)
        return response

    monkeypatch.setattr("messaging.api.integrator_post", spy)
    fast = api_client.post(path, body, format="json")
    full = api_client.post(f"{path}?full=1", body, format="json")
    assert taken == [True, False], "the first went the lean path, the second the full one"
    return fast, full


BODIES = [
    {"to": CONTACT, "body": "Hello"},
    {"to": CONTACT, "body": "Hello", "from": OUR_NUMBER},
    {"to": CONTACT, "body": "Ça marche 👍", "mediaUrl": "https://example.com/cat.jpg"},
    {"to": "555-1234", "body": "x"},
    {"to": CONTACT, "body": ""},
    {"to": CONTACT, "body": "x" * 1601},
    {"to": CONTACT, "body": "x", "from": "+13125550100"},
    {"to": CONTACT, "body": "x", "scheduled_at": "yesterday"},
    {"body": "no recipient"},
]


@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_a_send_answers_the_same_on_both_paths(api_client, our_number, other_number, body, monkeypatch):
    fast, full = _both(api_client, "/api/messages", body, monkeypatch)
    assert fast.status_code == full.status_code
    assert _shape(fast.json()) == _shape(full.json())
    assert set(fast.headers) == set(full.headers)
    for name in COMPARED_HEADERS:
        assert fast.get(name) == full.get(name), name
    assert int(fast["X-RateLimit-Remaining"]) == int(full["X-RateLimit-Remaining"]) + 1


def test_a_batch_answers_the_same_on_both_paths(api_client, our_number, workspace, monkeypatch):
    OptOut.objects.create(workspace=workspace, phone_number="+14155550002", keyword="STOP")
    body = {
        "messages": [
            {"to": "+14155550001", "body": "one"},
            {"to": "bad", "body": "two"},
            {"to": "+14155550002", "body": "opted out"},
            "not an object",
            {"to": "+14155550003", "body": "three", "from": OUR_NUMBER},
        ]
    }
    fast, full = _both(api_client, "/api/messages/batch", body, monkeypatch)
    assert fast.status_code == full.status_code == 200
    assert _shape(fast.json()) == _shape(full.json())
    assert [item["status"] for item in fast.json()["data"]] == [201, 400, 400, 400, 201]
    assert Message.objects.count() == 4


def test_errors_of_the_workspace_answer_the_same(api_client, monkeypatch):
    # No carrier account: provider_not_configured on both.
    fast, full = _both(api_client, "/api/messages", {"to": CONTACT, "body": "x"}, monkeypatch)
    assert assert_error(fast, 400, "provider_not_configured") == full.json()


def test_the_rate_limit_holds_on_the_lean_path(api_client, our_number, settings):
    settings.API_KEY_RATE_LIMIT = "2/m"
    for remaining in ("1", "0"):
        response = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
        assert response.status_code == 201
        assert response["X-RateLimit-Limit"] == "2"
        assert response["X-RateLimit-Remaining"] == remaining
    blocked = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    assert_error(blocked, 429, "rate_limited")
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked["X-RateLimit-Remaining"] == "0"
    assert Message.objects.count() == 2


def test_a_revoked_key_fails_on_the_very_next_send(api_client, api_key, our_number):
    assert api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json").status_code == 201
    key = api_key.api_key
    type(key).objects.filter(pk=key.pk).update(revoked_at=key.created_at)
    refused = api_client.post("/api/messages", {"to": CONTACT, "body": "x"}, format="json")
    assert_error(refused, 401, "unauthorized")
    assert refused["WWW-Authenticate"] == 'Bearer realm="api"'
    assert Message.objects.count() == 1


def test_what_the_lean_path_does_not_serve_goes_the_full_way(api_client, our_number):
    indented = api_client.post(
        "/api/messages", {"to": CONTACT, "body": "x"}, format="json", HTTP_ACCEPT="application/json; indent=2"
    )
    assert indented.status_code == 201 and indented.content.startswith(b"{\n")
    refused = api_client.post(
        "/api/messages", {"to": CONTACT, "body": "x"}, format="json", HTTP_ACCEPT="text/html"
    )
    assert_error(refused, 406, "not_acceptable")
    again = api_client.post(
        "/api/messages", {"to": CONTACT, "body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    replay = api_client.post(
        "/api/messages", {"to": CONTACT, "body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["id"] == again.json()["id"]


def test_the_rate_limit_costs_one_redis_round_trip(api_client, monkeypatch):
    require_service("Redis", bool(os.environ.get("REDIS_URL")))
    commands, answers = [], []
    connection_class = redis.connection.AbstractConnection
    pack, read = connection_class.pack_command, connection_class.read_response

    def packing(self, *args):
        commands.append(args[0])
        return pack(self, *args)

    def reading(self, *args, **options):
        answers.append(1)
        return read(self, *args, **options)

    throttling.usage_of(None, group="test", value="key_1", rate="100/m")  # the script loaded
    monkeypatch.setattr(connection_class, "pack_command", packing)
    monkeypatch.setattr(connection_class, "read_response", reading)
    for expected in (2, 3, 4):
        usage = throttling.usage_of(None, group="test", value="key_1", rate="100/m")
        assert (usage["count"], usage["limit"], usage["should_limit"]) == (expected, 100, False)
        assert 0 <= usage["time_left"] <= 60
    assert commands == ["EVALSHA"] * 3
    assert len(answers) == 3  # one answer read each: one round trip


def test_the_rate_limit_makes_no_redis_client_per_request(monkeypatch, settings):
    require_service("Redis", bool(os.environ.get("REDIS_URL")))
    made = []
    original = redis.Redis.__init__

    def counting(self, *args, **options):
        made.append(options.get("connection_pool"))
        original(self, *args, **options)

    throttling.usage_of(None, group="test", value="key_2", rate="100/m")  # the client made
    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for expected in (2, 3, 4):
        assert throttling.usage_of(None, group="test", value="key_2", rate="100/m")["count"] == expected
    assert made == []
    # Other cache settings are taken at once (the test's local memory: counted by django-ratelimit).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    usage = throttling.usage_of(None, group="test", value="key_2", rate="100/m")
    assert usage is not None and usage["count"] == 1 and made == []
