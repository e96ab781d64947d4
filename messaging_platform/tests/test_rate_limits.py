import os
import time

import pytest
from django.conf import settings as django_settings

from conftest import assert_error, client_for, require_service

pytestmark = pytest.mark.django_db


def assert_rate_headers(response, limit: int, remaining: int) -> None:
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == str(remaining)
    reset = int(response["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 61


def test_the_fourth_request_of_a_key_over_three_a_minute_is_rate_limited(api_client, settings):
    settings.API_KEY_RATE_LIMIT = "3/m"
    for remaining in (2, 1, 0):
        response = api_client.get("/api/workspace")
        assert response.status_code == 200
        assert_rate_headers(response, 3, remaining)
    blocked = api_client.get("/api/workspace")
    assert_error(blocked, 429, "rate_limited")
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert_rate_headers(blocked, 3, 0)


def test_the_limit_is_per_key(api_client, other_api_client, settings):
    settings.API_KEY_RATE_LIMIT = "3/m"
    for _ in range(4):
        api_client.get("/api/workspace")
    response = other_api_client.get("/api/workspace")
    assert response.status_code == 200
    assert_rate_headers(response, 3, 2)


def test_the_default_integrator_limit_is_100_a_minute(api_client):
    assert_rate_headers(api_client.get("/api/workspace"), 100, 99)


def test_the_ui_api_is_limited_per_user_across_their_tokens(user, workspace, outsider, settings):
    settings.UI_RATE_LIMIT = "3/m"
    first, second = client_for(user), client_for(user)
    for n in range(3):
        response = (first if n % 2 else second).get("/api/ui/workspaces")
        assert response.status_code == 200
        assert_rate_headers(response, 3, 2 - n)
    assert_error(second.get(f"/api/ui/workspaces/{workspace.id}"), 429, "rate_limited")
    assert client_for(outsider).get("/api/ui/workspaces").status_code == 200


def test_the_default_ui_limit_is_1000_a_minute(owner_client):
    assert_rate_headers(owner_client.get("/api/auth/me"), 1000, 999)


def test_rate_limit_counters_live_in_redis_when_it_is_configured(api_client):
    require_service("Redis", bool(os.environ.get("REDIS_URL")))
    import redis

    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    before = set(client.keys("*rl:*"))
    api_client.get("/api/workspace")
    created = set(client.keys("*rl:*")) - before
    assert len(created) == 1
    assert int(client.get(created.pop())) == 1


def test_the_count_goes_on_when_redis_forgot_the_script(api_client, settings, monkeypatch):
    """After a Redis restart (or SCRIPT FLUSH) the counting script is unknown to it: the request
    is counted all the same, once, and Redis learns the script again."""
    require_service("Redis", bool(os.environ.get("REDIS_URL")))
    from messaging_platform.api import throttling

    settings.API_KEY_RATE_LIMIT = "5/m"
    assert_rate_headers(api_client.get("/api/workspace"), 5, 4)
    client = throttling._client_of(throttling._rate_limit_cache())
    # The same script under a text Redis has never seen: its first EVALSHA answers NOSCRIPT.
    unknown = client.register_script(throttling._COUNT_SCRIPT + f"-- {time.time_ns()}\n")
    assert client.script_exists(unknown.sha) == [False]
    monkeypatch.setattr(throttling, "_script", [unknown])
    assert_rate_headers(api_client.get("/api/workspace"), 5, 3)
    assert client.script_exists(unknown.sha) == [True]
    assert_rate_headers(api_client.get("/api/workspace"), 5, 2)


def test_the_count_goes_on_over_a_connection_redis_closed(api_client, settings):
    require_service("Redis", bool(os.environ.get("REDIS_URL")))
    from messaging_platform.api import throttling

    settings.API_KEY_RATE_LIMIT = "5/m"
    assert_rate_headers(api_client.get("/api/workspace"), 5, 4)
    import redis

    pool = throttling._client_of(throttling._rate_limit_cache()).connection_pool
    ours = []
    for connection in pool._available_connections:  # type: ignore[attr-defined]
        connection.send_command("CLIENT", "ID")
        ours.append(connection.read_response())
    assert ours
    killer = redis.Redis.from_url(os.environ["REDIS_URL"])
    for connection_id in ours:  # Redis closes them (a restart, a timeout, a proxy)
        killer.client_kill_filter(_id=str(connection_id))
    assert_rate_headers(api_client.get("/api/workspace"), 5, 3)
    assert_rate_headers(api_client.get("/api/workspace"), 5, 2)
