"""Fault injection on a private platform (its own PostgreSQL cluster and Redis, gunicorn, a Celery
worker, the fake Twilio), through bench/faults.py: PostgreSQL stopped for 5 s and Redis restarted
empty in the middle of a burst. Nothing is lost, nothing is sent twice, and the API answers 503
service_unavailable in the error format while PostgreSQL is down, then recovers by itself. Carrier
webhooks posted while PostgreSQL is stopped are answered as Twilio expects and all stored and
applied once it is back."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_service
from messaging_platform.testing.stack import private_services_available

pytestmark = pytest.mark.e2e

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_postgres_stopped_and_redis_restarted_lose_nothing_and_send_nothing_twice():
    require_service(
        "initdb, redis-server and runuser (private fault-test services)", private_services_available()
    )
    result = subprocess.run(
        [
            sys.executable,
            "bench/faults.py",
            "postgres-stop",
            "redis-restart",
            "webhooks-postgres-stop",
            "--messages",
            "60",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and len(lines) == 3, result.stdout + result.stderr[-3000:]
    postgres, redis, webhooks = lines
    for figures in (postgres, redis):
        assert figures["accepted"] > 0, figures
        assert figures["lost"] == 0, figures
        assert figures["duplicates_sent_to_carrier"] == 0, figures
        reached = figures["delivered"] + figures["at_carrier_receipt_lost"]
        assert reached == figures["accepted"], figures
        assert figures["api_latency_max_s"] < 15, figures  # never a hang
    assert set(postgres["probes"]["during"]) == {"503 service_unavailable"}, postgres
    assert postgres["non_json_answers"] == []
    assert postgres["probes"]["after"].get("200", 0) >= 20, postgres
    assert set(postgres["refused"]) <= {"503 service_unavailable"}, postgres
    assert set(redis["refused"]) <= {"503 service_unavailable"}, redis
    # Every webhook posted during the stop answered as Twilio expects (TwiML 200, 204), none lost.
    # With Redis down as well, nowhere can keep the event: a JSON 503 with Retry-After, so that
    # Twilio retries (the connection override on the number), and the retry is taken.
    assert webhooks["answers"] == {
        "before 200": 1,
        "inbound 200": webhooks["inbound_posted"],
        "status 204": webhooks["status_posted"],
        "both down 503 application/json Retry-After=5": 1,
        "retried 200": 1,
    }, webhooks
    assert webhooks["refused_then_retried_stored"] == 1, webhooks
    assert webhooks["inbound_stored"] == webhooks["inbound_posted"] == 30, webhooks
    assert webhooks["status_applied"] == webhooks["status_posted"] == 15, webhooks
