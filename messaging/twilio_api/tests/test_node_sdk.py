"""Twilio's Node SDK (from the npm registry, pinned in tests/node/package.json) runs a script
written for Twilio against a live server, changing only the base URL and the credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import IN_CI

from .conftest import OUR_NUMBER, wait_for_sent

NODE_DIR = Path(__file__).parent / "node"


def node_ready() -> str | None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "twilio").is_dir():
        if IN_CI:
            pytest.fail(
                "node and the twilio npm package are required under CI "
                "(`npm ci` in messaging/twilio_api/tests/node; .ci/run does it)."
            )
        pytest.skip("node or the twilio npm package is missing (npm ci in tests/node)")
    return node


def test_a_node_script_written_for_twilio_runs_unchanged_but_for_the_base_url(live, account, carrier):
    node = node_ready()
    env = {
        **os.environ,
        "BASE_URL": live.url,
        "ACCOUNT_SID": account.account_sid,
        "AUTH_TOKEN": account.auth_token,
        "FROM": OUR_NUMBER,
        "TO": "+14155550142",
        "CARRIER_SID": account.carrier_account.sid,
        "CARRIER_TOKEN": account.carrier_account.auth_token,
        "INBOUND_URL": f"{live.url}/webhooks/twilio/{account.workspace.id}/inbound",
    }
    run = subprocess.run(
        [node, "sdk_script.js"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr + run.stdout
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["statusCallbackVerified"] and summary["smsUrlVerified"]

    reply = wait_for_sent(carrier, "+14155550166")
    assert reply.body == "Node says thanks" and reply.from_number == OUR_NUMBER
