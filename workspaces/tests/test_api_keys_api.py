import hashlib
import time

import pytest
from rest_framework.test import APIClient

from conftest import all_rows_text, assert_error, client_for
from workspaces.models import ApiKey, Workspace

pytestmark = pytest.mark.django_db


def keys_url(workspace, key_id: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.id}/api-keys" + (f"/{key_id}" if key_id else "")


def key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("who", ["user", "admin_user"])
def test_owners_and_admins_create_a_key_shown_once(request, workspace, who):
    client = client_for(request.getfixturevalue(who))
    response = client.post(keys_url(workspace), {"name": "CI"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "prefix", "created_at", "last_used_at", "key"}
    assert body["id"].startswith("key_")
    assert body["key"].startswith("mp_live_")
    assert body["key"].startswith(body["prefix"])
    assert body["last_used_at"] is None
    listed = client.get(keys_url(workspace)).json()["data"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert set(listed[0]) == {"id", "name", "prefix", "created_at", "last_used_at"}
    assert body["key"] not in str(listed)


def test_a_member_cannot_create_or_revoke_keys(member_client, workspace, api_key):
    assert_error(member_client.post(keys_url(workspace), {"name": "Mine"}, format="json"), 403, "forbidden")
    assert_error(member_client.delete(keys_url(workspace, api_key.api_key.id)), 403, "forbidden")
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "missing_params"),
        ({"name": ""}, "invalid_params"),
        ({"name": "k" * 101}, "invalid_params"),
        ({"name": ["k"]}, "invalid_params"),
    ],
)
def test_it_rejects_bad_key_names(owner_client, workspace, body, code):
    assert_error(owner_client.post(keys_url(workspace), body, format="json"), 400, code)
    assert not ApiKey.objects.exists()


def test_the_key_is_stored_only_as_its_sha256_hash(owner_client, workspace):
    raw = owner_client.post(keys_url(workspace), {"name": "CI"}, format="json").json()["key"]
    stored = ApiKey.objects.get()
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in all_rows_text()
    assert raw[len("mp_live_") :] not in all_rows_text()


def test_the_key_is_not_stored_even_when_created_with_an_idempotency_key(owner_client, workspace):
    first = owner_client.post(
        keys_url(workspace), {"name": "CI"}, format="json", HTTP_IDEMPOTENCY_KEY="create-ci-key"
    )
    raw = first.json()["key"]
    assert raw not in all_rows_text()
    assert raw[len("mp_live_") :] not in all_rows_text()


def test_the_key_reaches_the_integrator_api_and_records_its_use(api_key, workspace):
    assert ApiKey.objects.get().last_used_at is None
    response = key_client(api_key.key).get("/api/workspace")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (workspace.id, "Acme")
    assert ApiKey.objects.get().last_used_at is not None


def test_integrator_answers_carry_the_rate_limit_headers(api_client, settings):
    response = api_client.get("/api/workspace")
    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"
    reset = int(response["X-RateLimit-Reset"])
    assert time.time() <= reset <= time.time() + 61


def test_a_revoked_key_fails_on_its_very_next_request(owner_client, workspace, api_key):
    client = key_client(api_key.key)
    assert client.get("/api/workspace").status_code == 200
    assert owner_client.delete(keys_url(workspace, api_key.api_key.id)).status_code == 204
    assert_error(client.get("/api/workspace"), 401, "unauthorized")
    assert owner_client.get(keys_url(workspace)).json()["data"] == []


def test_revoking_an_unknown_or_revoked_key_is_a_404(owner_client, workspace, api_key):
    owner_client.delete(keys_url(workspace, api_key.api_key.id))
    assert_error(owner_client.delete(keys_url(workspace, api_key.api_key.id)), 404, "not_found")
    assert_error(owner_client.delete(keys_url(workspace, "key_nope")), 404, "not_found")


def test_a_key_of_a_disabled_workspace_fails(api_client, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(is_active=False)
    assert_error(api_client.get("/api/workspace"), 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer mp_live_unknown",
        "Bearer",
        "Bearer a b",
        "Basic dXNlcjpwYXNz",
        "mp_live_x",
    ],
)
def test_it_rejects_missing_or_bad_credentials_on_the_integrator_api(anon_client, header):
    anon_client.credentials(HTTP_AUTHORIZATION=header)
    response = anon_client.get("/api/workspace")
    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_session_token_cannot_call_the_integrator_api(owner_client):
    assert_error(owner_client.get("/api/workspace"), 401, "unauthorized")


def test_an_api_key_cannot_call_the_ui_api(api_client, workspace):
    assert_error(api_client.get("/api/ui/workspaces"), 401, "unauthorized")
    assert_error(api_client.get(keys_url(workspace)), 401, "unauthorized")
    assert_error(api_client.post(keys_url(workspace), {"name": "x"}, format="json"), 401, "unauthorized")
    assert_error(api_client.get("/api/auth/me"), 401, "unauthorized")
    assert ApiKey.objects.count() == 1
