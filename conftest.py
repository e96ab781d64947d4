"""Fixtures shared by every app's tests: users, workspaces (always with a second one), clients."""

import math
import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import session_token_issue
from workspaces.models import Membership, Role, Workspace
from workspaces.services import api_key_create, workspace_create

pytest_plugins = ["messaging_platform.testing.fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name: str, available: bool) -> None:
    """Skip a test whose backing service was not given, except under CI where it is an error."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required under CI but was not configured or is not reachable.")
    pytest.skip(f"{name} not configured (set it to run this test)")


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters and idempotency live in the cache; each test starts from zero. So does
    # the wake-ups' pending keys, and with them this process's memos of having seen them held.
    from messaging import wakeup

    cache.clear()
    wakeup._seen_held[0] = wakeup._events_seen_held[0] = -math.inf
    yield


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(email: str | None = None, name: str = "Test User", password: str = "correct-horse-9"):
        counter["n"] += 1
        email = email or f"user{counter['n']}@example.com"
        return User.objects.create_user(email=email, password=password, name=name)

    return make


@pytest.fixture
def user(make_user):
    return make_user("owner@example.com", name="Olivia Owner")


@pytest.fixture
def workspace(user) -> Workspace:
    return workspace_create(user=user, name="Acme")


@pytest.fixture
def member(make_user, workspace):
    person = make_user("member@example.com", name="Max Member")
    Membership.objects.create(workspace=workspace, user=person, role=Role.MEMBER)
    return person


@pytest.fixture
def admin_user(make_user, workspace):
    person = make_user("admin@example.com", name="Ada Admin")
    Membership.objects.create(workspace=workspace, user=person, role=Role.ADMIN)
    return person


@pytest.fixture
def outsider(make_user):
    return make_user("outsider@example.com", name="Oscar Outsider")


@pytest.fixture
def other_workspace(outsider) -> Workspace:
    return workspace_create(user=outsider, name="Other Co")


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_token_issue(user=user).token}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner_client(user, workspace) -> APIClient:
    return client_for(user)


@pytest.fixture
def member_client(member) -> APIClient:
    return client_for(member)


@pytest.fixture
def outsider_client(outsider, other_workspace) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def api_key(user, workspace):
    membership = Membership.objects.get(user=user, workspace=workspace)
    return api_key_create(actor=membership, name="Test key")


@pytest.fixture
def api_client(api_key) -> APIClient:
    """An integrator's client, authenticated with the workspace's API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    return client


@pytest.fixture
def other_api_client(outsider, other_workspace) -> APIClient:
    membership = Membership.objects.get(user=outsider, workspace=other_workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(actor=membership, name='k').key}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    """The answer is `status` in the documented error format, with `code`; returns the body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"error", "detail", "fields"}
    assert "Traceback" not in response.content.decode()
    return body


def all_rows_text() -> str:
    """Every stored value of every table, as the database holds it, to scan for secrets."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)
