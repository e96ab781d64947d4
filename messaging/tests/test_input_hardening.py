"""Bad input gets a 4xx in the error format, changes nothing and logs nothing alarming: deep
nesting, NUL characters, values the database refuses, non-string fields, unsafe media URLs."""

import logging

import pytest

from conftest import assert_error
from messaging.models import Message
from messaging.tests.conftest import CONTACT

pytestmark = pytest.mark.django_db

DEEP_LIST = "[" * 10000 + "]" * 10000


def _no_alarming_logs(caplog) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]


@pytest.mark.parametrize(
    "body", [DEEP_LIST, '{"a":' * 5000 + "1" + "}" * 5000, '{"email": ' + "[" * 40 + "]" * 40 + "}"]
)
def test_deeply_nested_json_to_an_unauthenticated_endpoint_is_a_400(anon_client, caplog, body):
    response = anon_client.post("/api/auth/login", body, content_type="application/json")
    assert_error(response, 400, "invalid_params")
    _no_alarming_logs(caplog)


@pytest.mark.parametrize("path", ["/api/messages", "/api/messages/batch", "/api/messages/preview"])
def test_deeply_nested_json_to_the_send_endpoints_is_a_400(api_client, our_number, caplog, path):
    response = api_client.post(
        path, DEEP_LIST, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1"
    )
    assert_error(response, 400, "invalid_params")
    assert not Message.objects.exists()
    _no_alarming_logs(caplog)


def test_nesting_a_real_request_uses_is_accepted(api_client, our_number):
    response = api_client.post(
        "/api/messages/batch", {"messages": [{"to": CONTACT, "body": "hi"}]}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "query", ["search=a%00b", "conversation=conv_%00x", "status=queued%00", "a%00=1", "to=%2B1415%00"]
)
def test_a_nul_in_a_query_parameter_is_a_400(api_client, owner_client, workspace, caplog, query):
    assert_error(api_client.get(f"/api/messages?{query}"), 400, "invalid_params")
    assert_error(
        owner_client.get(f"/api/ui/workspaces/{workspace.id}/messages?{query}"), 400, "invalid_params"
    )
    _no_alarming_logs(caplog)


@pytest.mark.parametrize(
    "path", ["/api/messages/msg_%00x", "/api/messages/msg_%00x/cancel", "/api/numbers/pn_%00"]
)
def test_a_nul_in_a_path_id_is_a_400(api_client, caplog, path):
    assert_error(api_client.get(path), 400, "invalid_params")
    _no_alarming_logs(caplog)


def test_a_nul_in_a_carrier_webhook_path_is_a_json_400(anon_client):
    assert_error(anon_client.post("/webhooks/twilio/ws_%00/inbound", {}), 400, "invalid_params")


@pytest.mark.urls("messaging_platform.tests.error_urls")
def test_a_value_the_database_refuses_is_a_400_not_a_500(anon_client, caplog):
    body = assert_error(anon_client.get("/api/test/data-error?n=x"), 400, "invalid_params")
    assert "integer" not in body["detail"]  # the database's own words are not echoed
    _no_alarming_logs(caplog)


@pytest.mark.parametrize(
    "raw",
    [
        '{"to": "+14155552671", "body": 1e999}',
        '{"to": "+14155552671", "body": 42}',
        '{"to": "+14155552671", "body": 4.5}',
        '{"to": "+14155552671", "body": true}',
        '{"to": "+14155552671", "body": "x", "status_callback": 7}',
        '{"to": "+14155552671", "body": "x", "mediaUrl": [1]}',
        '{"to": 14155552671, "body": "x"}',
    ],
)
def test_a_non_string_field_is_refused_not_coerced(api_client, our_number, raw):
    response = api_client.post("/api/messages", raw, content_type="application/json")
    assert_error(response, 400, "invalid_params" if '"to": 1' not in raw else "invalid_phone_number")
    assert not Message.objects.exists()


def test_a_non_string_field_in_a_batch_refuses_that_message_only(api_client, our_number):
    response = api_client.post(
        "/api/messages/batch",
        '{"messages": [{"to": "+14155552671", "body": 42}, {"to": "+14155552671", "body": "fine"}]}',
        content_type="application/json",
    )
    assert response.status_code == 200
    first, second = response.json()["data"]
    assert first["status"] == 400 and first["error"]["error"] == "invalid_params"
    assert second["status"] == 201
    assert list(Message.objects.values_list("body", flat=True)) == ["fine"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cat.png",
        "https://169.254.169.254/latest",
        "http://[::1]/a.png",
        "http://10.0.0.1/a.png",
        "https://unresolvable.invalid/a.png",
    ],
)
@pytest.mark.parametrize("field", ["mediaUrl", "media_urls"])
def test_media_urls_follow_the_status_callback_address_rules(send, url, field, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = send(**{field: [url]})
    body = assert_error(response, 400, "invalid_params")
    assert field in body["fields"]
    assert not Message.objects.exists()


def test_public_media_urls_are_still_accepted(send):
    response = send(mediaUrl="http://example.com/cat.png")
    assert response.status_code == 201, response.content


def test_the_schema_is_served_to_a_request_carrying_an_api_key(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "/api/messages" in response.json()["paths"]


def test_the_schema_is_served_with_any_bearer(anon_client):
    response = anon_client.get("/api/schema/", HTTP_AUTHORIZATION="Bearer mp_sess_not-a-token")
    assert response.status_code == 200


def test_an_oversized_carrier_webhook_is_refused_in_json(anon_client, workspace, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = anon_client.post(
        f"/webhooks/twilio/{workspace.id}/inbound",
        "Body=" + "x" * 5000,
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/webhooks/nope", "/webhooks/twilio/ws_x/unknown", "/webhooks"])
def test_an_unknown_webhook_path_is_a_json_404(anon_client, path):
    assert_error(anon_client.post(path, {}), 404, "not_found")


def test_a_bad_host_header_on_a_webhook_is_a_json_400(anon_client, workspace):
    response = anon_client.post(f"/webhooks/twilio/{workspace.id}/inbound", {}, HTTP_HOST="evil.example.net")
    assert_error(response, 400, "invalid_params")
