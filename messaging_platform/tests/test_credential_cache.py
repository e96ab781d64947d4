"""The per-process credential caches are exact: a change made through any path, in any process,
is seen by every process on its very next request (messaging_platform/api/credentials.py)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import uses_postgres
from messaging_platform.api import credentials
from workspaces.models import ApiKey, Workspace
from workspaces.services import api_key_authenticate

ROOT = Path(__file__).resolve().parents[2]

# Another process of the platform: authenticates keys as a request would, and says how many
# queries each took (1 = only the token: answered from its cache).
CHILD = textwrap.dedent("""
    import sys
    import django
    django.setup()
    from django.core.signals import request_finished, request_started
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from workspaces.services import api_key_authenticate
    for line in sys.stdin:
        request_started.send(sender=None)
        with CaptureQueriesContext(connection) as queries:
            key = api_key_authenticate(line.strip())
        request_finished.send(sender=None)
        print("ok" if key else "refused", len(queries), flush=True)
""")


@pytest.fixture
def other_process(transactional_db):
    if not uses_postgres():
        pytest.skip("the caches are on only with PostgreSQL")
    name = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
        "DATABASE_URL": f"postgres://{connection.settings_dict['USER']}@"
        f"{connection.settings_dict['HOST'] or '127.0.0.1'}:"
        f"{connection.settings_dict['PORT'] or 5432}/{name}",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )

    def authenticate(raw: str) -> tuple[str, int]:
        child.stdin.write(raw + "\n")
        child.stdin.flush()
        answer, queries = child.stdout.readline().split()
        return answer, int(queries)

    yield authenticate
    child.stdin.close()
    child.wait(10)


def test_a_revoked_key_fails_at_once_on_another_process(
    other_process, api_key, api_client, owner_client, workspace
):
    assert other_process(api_key.key)[0] == "ok"  # the token, the key (and its last use)
    assert other_process(api_key.key) == ("ok", 1)  # from its cache: only the token
    assert api_client.get("/api/workspace").status_code == 200
    response = owner_client.delete(f"/api/ui/workspaces/{workspace.id}/api-keys/{api_key.api_key.id}")
    assert response.status_code == 204
    assert other_process(api_key.key)[0] == "refused"
    assert api_client.get("/api/workspace").status_code == 401


def test_a_workspace_disabled_by_a_bulk_update_refuses_its_keys_everywhere(
    other_process, api_key, api_client, workspace
):
    assert other_process(api_key.key)[0] == "ok"
    assert api_client.get("/api/workspace").status_code == 200
    Workspace.objects.filter(pk=workspace.pk).update(is_active=False)  # as the admin action does
    assert other_process(api_key.key)[0] == "refused"
    assert api_client.get("/api/workspace").status_code == 401


def test_a_key_revoked_in_another_process_fails_here_on_the_next_request(
    api_key, api_client, transactional_db
):
    assert api_client.get("/api/workspace").status_code == 200
    assert api_client.get("/api/workspace").status_code == 200  # cached here now
    subprocess.run(
        [
            "psql",
            _dsn(),
            "-qc",
            f"UPDATE workspaces_apikey SET revoked_at = now() WHERE id = '{api_key.api_key.id}'",
        ],
        check=True,
    )
    assert api_client.get("/api/workspace").status_code == 401


def _dsn() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.django_db
def test_an_authentication_is_served_from_the_cache_until_something_changes(api_key):
    if not uses_postgres():
        pytest.skip("the caches are on only with PostgreSQL")
    credentials.clear()
    api_key_authenticate(api_key.key)
    with CaptureQueriesContext(connection) as queries:
        assert api_key_authenticate(api_key.key) is not None
    assert len(queries) == 1  # the token only
    ApiKey.objects.filter(pk=api_key.api_key.pk).update(revoked_at="2020-01-01T00:00:00Z")
    assert api_key_authenticate(api_key.key) is None


def test_a_number_removed_by_another_process_is_refused_as_a_sender_at_once(
    api_key, api_client, workspace, transactional_db
):
    from numbers.models import PhoneNumber, ProviderAccount

    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550123", is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550124")
    body = {"to": "+14155552671", "body": "hi", "from": "+12015550124"}
    assert api_client.post("/api/messages", body, format="json").status_code == 201
    assert api_client.post("/api/messages", body, format="json").status_code == 201  # cached
    subprocess.run(
        ["psql", _dsn(), "-qc", "DELETE FROM numbers_phonenumber WHERE phone_number = '+12015550124'"],
        check=True,
    )
    response = api_client.post("/api/messages", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "from_number_not_allowed"
