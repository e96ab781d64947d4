"""The embedded default (`make run`: SQLite, tasks in-process, no bind process): the server holds
the SMPP binds in a thread of its own and sends through them with the delivery engine's rounds."""

import json
import subprocess
import sys

import pytest
import requests

from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SENDER, SMPP_SYSTEM_ID
from messaging_platform.testing.live_server import LiveServer
from messaging_platform.testing.processes import BASE_DIR, wait_until

pytestmark = [pytest.mark.e2e]

SEED = """
import json
from accounts.models import User
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_create, workspace_create

user = User.objects.create_user(email="embedded@example.com", password="embedded-pw-1", name="E")
workspace = workspace_create(user=user, name="Embedded")
ProviderAccount.objects.create(workspace=workspace, provider="smpp", auth_token={password!r},
                               settings={{"host": "127.0.0.1", "port": {port}, "system_id": {system_id!r}}})
PhoneNumber.objects.create(workspace=workspace, phone_number={sender!r}, is_default=True)
member = Membership.objects.get(user=user, workspace=workspace)
print(json.dumps({{"key": api_key_create(actor=member, name="k").key}}))
"""


def test_make_run_delivers_through_smpp_with_no_extra_command(fake_smsc, tmp_path):
    database = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    # SMPP_BINDS_IN_PROCESS is `make run`'s default (tasks eager); the suite's own is off.
    server = LiveServer(
        env={
            "DATABASE_URL": database,
            "SMPP_BINDS_IN_PROCESS": "true",
            "SMPP_POLL_SECONDS": "0.05",
            "SMPP_ACCOUNTS_REFRESH_SECONDS": "0.5",
        }
    ).start()
    try:
        seeded = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                SEED.format(
                    password=SMPP_PASSWORD, port=fake_smsc.port, system_id=SMPP_SYSTEM_ID, sender=SMPP_SENDER
                ),
            ],
            cwd=BASE_DIR,
            env=server._env(),
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(seeded.stdout.strip().splitlines()[-1])["key"]
        headers = {"Authorization": f"Bearer {key}"}
        assert fake_smsc.wait_for_binds(timeout=20), server.log()
        ids = []
        for n in range(5):
            response = requests.post(
                f"{server.url}/api/messages",
                headers=headers,
                timeout=10,
                json={"to": "+14155552671", "body": f"Embedded {n}"},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        def status(message_id: str) -> str:
            return requests.get(
                f"{server.url}/api/messages/{message_id}", headers=headers, timeout=10
            ).json()["status"]

        wait_until(
            lambda: all(status(i) == "delivered" for i in ids),
            timeout=30,
            what=f"delivered through the server's own binds; server log:\n{server.log()}",
        )
        assert sorted(p.text for p in fake_smsc.parts) == [f"Embedded {n}" for n in range(5)]
        assert len(fake_smsc.binds) == 1
    finally:
        server.stop()
