"""Structured logs: JSON lines with a request id that follows a message from the request into its
tasks (in-process and through a real worker), and no secrets or message bodies at INFO."""

import io
import json
import logging

import pytest
import requests
from django.conf import settings as django_settings
from pythonjsonlogger.json import JsonFormatter

from conftest import require_service, uses_postgres
from messaging.models import Message, Status
from messaging.operations.logs import LogContextFilter, PlainFormatter
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.processes import DaphneProcess, WorkerProcess, wait_until
from numbers.models import PhoneNumber, ProviderAccount

pytestmark = pytest.mark.django_db

BODY = "Meet me at the usual place, code word pineapple"
REQUEST_ID = "req-0123456789abcdef"


@pytest.fixture
def log_lines():
    """Everything logged at INFO and above while the test runs, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    config = django_settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(config["format"], rename_fields=config["rename_fields"]))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def twilio_workspace(workspace, twilio_account):
    ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True)
    return workspace


@pytest.mark.django_db(transaction=True)  # the send task runs eagerly, at the request's commit
def test_a_send_logs_json_lines_carrying_the_request_id_into_its_delivery(
    log_lines, api_client, api_key, twilio_workspace, twilio_account
):
    response = api_client.post(
        "/api/messages", {"to": "+14155552671", "body": BODY}, format="json", HTTP_X_REQUEST_ID=REQUEST_ID
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == REQUEST_ID
    message_id = response.json()["id"]
    lines = log_lines()
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    tasks = [line for line in lines if line["logger"] == "messaging.operations.tasks"]
    assert tasks, lines
    assert {(line["request_id"], line["message_id"]) for line in tasks} == {(REQUEST_ID, message_id)}
    # Nothing secret or private at INFO: not the body, the carrier's token or the API key.
    text = json.dumps(lines)
    for secret in (BODY, "pineapple", twilio_account.auth_token, api_key.key):
        assert secret not in text


def test_a_request_without_a_sane_request_id_gets_a_fresh_one(owner_client, workspace):
    for given in ("", "short", "x" * 65, "bad id\nwith a newline"):
        response = owner_client.get(f"/api/ui/workspaces/{workspace.pk}/members", HTTP_X_REQUEST_ID=given)
        assert response.status_code == 200
        assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"] != given


def test_the_plain_format_of_make_run_shows_the_ids():
    record = logging.LogRecord("messaging", logging.INFO, __file__, 1, "Sent %s", ("it",), None)
    record.request_id, record.message_id = REQUEST_ID, "msg_1"
    line = PlainFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert line == f"INFO messaging Sent it [request={REQUEST_ID} message=msg_1]"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_request_id_reaches_a_real_worker_through_the_broker(
    settings, fake_twilio, twilio_workspace, api_key, twilio_account
):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    require_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    env = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    daphne = DaphneProcess(env)
    settings.PUBLIC_BASE_URL = daphne.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    fake_twilio.callbacks = True
    daphne.start()
    worker = WorkerProcess(env, log_level="INFO").start()
    try:
        response = requests.post(
            f"{daphne.url}/api/messages",
            timeout=10,
            json={"to": "+14155552671", "body": BODY},
            headers={"Authorization": f"Bearer {api_key.key}", "X-Request-ID": REQUEST_ID},
        )
        assert response.status_code == 201, response.text
        message_id = response.json()["id"]
        wait_until(
            lambda: Message.objects.filter(pk=message_id, status=Status.DELIVERED).exists(),
            timeout=30,
            what=f"delivery; worker log:\n{worker.log()}",
        )

        def task_lines() -> list[dict]:
            lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
            return [
                line
                for line in lines
                if line.get("logger") == "messaging.operations.tasks" and line.get("message_id") == message_id
            ]

        lines = wait_until(task_lines, timeout=10, what=f"task log lines:\n{worker.log()}")
        assert REQUEST_ID in {line["request_id"] for line in lines}
    finally:
        worker.stop()
        daphne.stop()
    for log in (worker.log(), daphne.log()):
        for secret in (BODY, twilio_account.auth_token, api_key.key):
            assert secret not in log
