import threading

import pytest
from django.db import connection

from conftest import all_rows_text, assert_error, client_for, require_service, uses_postgres
from messaging_platform.api.models import IdempotencyRecord
from workspaces.models import ApiKey, Invitation, Membership, Workspace

pytestmark = pytest.mark.django_db


def post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def creates(workspace):
    """Each POST create endpoint: its path, a body, another body, and how many it made."""
    ws = workspace.id
    return {
        "workspaces": (
            "/api/ui/workspaces",
            {"name": "Globex"},
            {"name": "Initech"},
            Workspace.objects.count,
        ),
        "api-keys": (
            f"/api/ui/workspaces/{ws}/api-keys",
            {"name": "CI"},
            {"name": "Prod"},
            ApiKey.objects.count,
        ),
        "invitations": (
            f"/api/ui/workspaces/{ws}/invitations",
            {"email": "g@example.com"},
            {"email": "h@example.com"},
            Invitation.objects.count,
        ),
    }


ENDPOINTS = ["workspaces", "api-keys", "invitations"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_same_key_and_body_replays_the_first_answer_and_creates_nothing(
    owner_client, workspace, endpoint
):
    path, body, _, count = creates(workspace)[endpoint]
    first = post(owner_client, path, body, "k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    made = count()
    again = post(owner_client, path, body, "k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert count() == made


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_same_key_with_another_body_is_a_409(owner_client, workspace, endpoint):
    path, body, other_body, count = creates(workspace)[endpoint]
    post(owner_client, path, body, "k-1")
    made = count()
    assert_error(post(owner_client, path, other_body, "k-1"), 409, "idempotency_conflict")
    assert count() == made


def test_without_a_key_every_post_creates(owner_client):
    owner_client.post("/api/ui/workspaces", {"name": "Globex"}, format="json")
    owner_client.post("/api/ui/workspaces", {"name": "Globex"}, format="json")
    assert Workspace.objects.filter(name="Globex").count() == 2


def test_different_keys_create_twice(owner_client):
    post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, "a")
    post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, "b")
    assert Workspace.objects.filter(name="Globex").count() == 2


def test_keys_are_scoped_per_caller(owner_client, outsider_client, user, outsider):
    mine = post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, "shared-key")
    theirs = post(outsider_client, "/api/ui/workspaces", {"name": "Globex"}, "shared-key")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine.json()["id"]
    assert Membership.objects.get(workspace_id=theirs.json()["id"]).user == outsider
    assert post(outsider_client, "/api/ui/workspaces", {"name": "Other"}, "shared-key").status_code == 409


def test_one_user_shares_keys_across_their_session_tokens(user, workspace):
    first = post(client_for(user), "/api/ui/workspaces", {"name": "Globex"}, "k")
    again = post(client_for(user), "/api/ui/workspaces", {"name": "Globex"}, "k")
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_failed_request_is_not_remembered(owner_client):
    assert_error(post(owner_client, "/api/ui/workspaces", {"name": ""}, "k"), 400, "invalid_params")
    assert post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, "k").status_code == 201


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_it_rejects_an_empty_or_over_long_key(owner_client, workspace, key):
    before = Workspace.objects.count()
    assert_error(post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, key), 400, "invalid_params")
    assert Workspace.objects.count() == before


def test_an_api_key_created_with_a_key_is_replayed_with_its_secret(owner_client, workspace):
    path = f"/api/ui/workspaces/{workspace.id}/api-keys"
    first = post(owner_client, path, {"name": "CI"}, "k")
    again = post(owner_client, path, {"name": "CI"}, "k")
    assert again.json()["key"] == first.json()["key"]
    assert IdempotencyRecord.objects.count() == 1
    assert first.json()["key"] not in all_rows_text()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_exactly_one_workspace(make_user):
    require_service("PostgreSQL", uses_postgres())
    owner = make_user("racer@example.com")
    clients = [client_for(owner) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    answers: list = []

    def send(client):
        try:
            barrier.wait()
            answers.append(post(client, "/api/ui/workspaces", {"name": "Race"}, "same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Workspace.objects.filter(name="Race").count() == 1
    assert [a.status_code for a in answers] == [201] * len(clients)
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(1 for a in answers if a.get("Idempotent-Replayed") == "true") == len(clients) - 1


def test_a_key_older_than_24_hours_starts_afresh(owner_client):
    from datetime import timedelta

    from django.utils import timezone

    from messaging_platform.api.idempotency import purge_expired_idempotency_records

    first = post(owner_client, "/api/ui/workspaces", {"name": "Globex"}, "k")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = post(owner_client, "/api/ui/workspaces", {"name": "Initech"}, "k")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    assert IdempotencyRecord.objects.count() == 1
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_expired_idempotency_records() == 1
