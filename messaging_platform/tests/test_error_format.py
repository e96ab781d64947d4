"""Every answer under /api/ is JSON in the {"error", "detail"} format: never HTML or a traceback."""

import json

import pytest
from django.test import Client

from conftest import assert_error, uses_postgres
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db

error_urls = pytest.mark.urls("messaging_platform.tests.error_urls")


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/",
        "/api/nope",
        "/api/ui/nope/deeper",
        "/api/ui/workspaces/",
        "/api/messages/msg_x/unknown",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_api_path_is_a_404_in_the_error_format(anon_client, debug, path, method):
    response = getattr(anon_client, method)(path)
    assert_error(response, 404, "not_found")


def test_a_wrong_method_is_a_405_in_the_error_format(owner_client, workspace, debug):
    response = owner_client.put("/api/ui/workspaces", {"name": "x"}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]
    assert_error(
        owner_client.post(f"/api/ui/workspaces/{workspace.id}", {}, format="json"), 405, "method_not_allowed"
    )
    assert_error(owner_client.delete("/api/ui/workspaces"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/plain", "name=Globex"),
        ("application/x-www-form-urlencoded", "name=Globex"),
        ("multipart/form-data; boundary=xyz", "--xyz\r\n"),
        ("application/xml", "<name>Globex</name>"),
    ],
)
def test_a_non_json_body_is_a_415(owner_client, debug, content_type, body):
    response = owner_client.post("/api/ui/workspaces", body, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert Workspace.objects.count() == 1  # only the fixture's


@pytest.mark.parametrize("body", ['{"name": ', "{'name': 'x'}", "not json", '{"name": "a"}}', "\xff\xfe"])
def test_malformed_json_is_a_400_invalid_params(owner_client, debug, body):
    response = owner_client.post("/api/ui/workspaces", body, content_type="application/json")
    assert_error(response, 400, "invalid_params")
    assert Workspace.objects.count() == 1  # only the fixture's


@pytest.mark.parametrize("body", ["[]", '["Globex"]', "null", '"Globex"', "42", "true"])
def test_a_json_body_that_is_not_an_object_is_a_400(owner_client, body):
    response = owner_client.post("/api/ui/workspaces", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_params", "missing_params")
    assert Workspace.objects.count() == 1  # only the fixture's


def test_missing_fields_are_listed_in_a_missing_params_error(anon_client):
    body = assert_error(
        anon_client.post("/api/auth/signup", {"email": "a@example.com"}, format="json"), 400, "missing_params"
    )
    assert set(body["fields"]) == {"password", "name"}
    assert "password" in body["detail"] and "name" in body["detail"]


def test_an_over_long_string_names_the_field(owner_client):
    body = assert_error(
        owner_client.post("/api/ui/workspaces", {"name": "x" * 500}, format="json"), 400, "invalid_params"
    )
    assert body["detail"].startswith("name: ")
    assert list(body["fields"]) == ["name"]


def test_an_oversized_body_is_a_413(owner_client, settings, debug):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = owner_client.post("/api/ui/workspaces", body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert Workspace.objects.count() == 1  # only the fixture's


def test_an_oversized_body_is_a_413_before_authentication(anon_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"email": "a@example.com", "password": "x" * 5000, "name": "n"})
    response = anon_client.post("/api/auth/signup", body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


@error_urls
def test_a_body_under_the_limit_is_read(anon_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = anon_client.post("/api/test/boom", {"a": "x" * 900}, format="json")
    assert response.status_code == 200


@error_urls
@pytest.mark.parametrize("path", ["/api/test/boom", "/api/test/plain-boom"])
def test_an_unhandled_exception_is_a_500_internal_error_without_a_traceback(debug, path, caplog):
    response = Client().get(path)
    body = assert_error(response, 500, "internal_error")
    text = response.content.decode()
    assert "hunter2" not in text and "Traceback" not in text and "<html" not in text.lower()
    assert body == {"error": "internal_error", "detail": body["detail"]}
    # The operator still gets the traceback, in the log.
    assert any(record.exc_info for record in caplog.records)


@error_urls
def test_a_database_outage_is_a_503_service_unavailable(debug):
    response = Client().get("/api/test/database-down")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"]
    assert "Connection refused" not in response.content.decode()


@error_urls
def test_a_value_the_database_refuses_for_its_type_is_a_400_not_a_500(debug, caplog):
    if not uses_postgres():
        pytest.skip("SQLite takes any value in any column: only PostgreSQL raises DataError")
    response = Client().get("/api/test/data-error?n=not-a-number")
    assert_error(response, 400, "invalid_params")
    assert "Traceback" not in response.content.decode()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@error_urls
def test_a_redis_outage_is_a_503_service_unavailable(debug):
    response = Client().get("/api/test/redis-down")
    assert_error(response, 503, "service_unavailable")


@error_urls
def test_a_failing_page_outside_the_api_is_not_json(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/test/page-boom")
    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")
    assert "a page failed" not in response.content.decode()


def test_html_is_never_answered_under_the_api_even_when_asked_for(owner_client, workspace):
    response = owner_client.get("/api/ui/workspaces", HTTP_ACCEPT="text/html")
    assert response["Content-Type"].startswith("application/json")
    assert response.status_code in (200, 406)
    if response.status_code == 406:
        assert_error(response, 406, "not_acceptable")
