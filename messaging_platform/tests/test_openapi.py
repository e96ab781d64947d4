import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

NOT_ENDPOINTS = {"api/schema/", "api/docs/"}


def api_routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route under api/ of the project, as OpenAPI writes paths (`{workspace_id}`)."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += api_routes(pattern.url_patterns, route)
        elif (
            isinstance(pattern, URLPattern)
            and route.startswith("api/")
            and "^" not in route
            and route not in NOT_ENDPOINTS
        ):
            routes.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


@pytest.fixture
def schema(anon_client) -> dict:
    response = anon_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_the_schema_is_served_as_json_for_an_accept_header(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_the_schema_generates_without_a_single_warning(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_every_api_endpoint_of_the_project_is_in_the_schema(schema):
    routes = api_routes()
    assert "/api/ui/workspaces/{workspace_id}" in routes
    assert sorted(set(routes) - set(schema["paths"])) == []


@pytest.mark.parametrize(
    "path, methods",
    [
        ("/api/auth/signup", {"post"}),
        ("/api/auth/login", {"post"}),
        ("/api/auth/logout", {"post"}),
        ("/api/auth/me", {"get"}),
        ("/api/ui/workspaces", {"get", "post"}),
        ("/api/ui/workspaces/{workspace_id}", {"get", "patch", "put", "delete"}),
        ("/api/ui/workspaces/{workspace_id}/members", {"get"}),
        ("/api/ui/workspaces/{workspace_id}/invitations", {"get", "post"}),
        ("/api/ui/workspaces/{workspace_id}/api-keys", {"get", "post"}),
        ("/api/ui/workspaces/{workspace_id}/api-keys/{api_key_id}", {"delete"}),
        ("/api/workspace", {"get"}),
    ],
)
def test_the_documented_paths_are_in_the_schema(schema, path, methods):
    assert methods <= set(schema["paths"][path])


def test_lists_are_described_with_the_pagination_envelope(schema):
    operation = schema["paths"]["/api/ui/workspaces"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    envelope = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(envelope["properties"]) == {"data", "pagination"}
    assert {p["name"] for p in operation["parameters"]} >= {"page", "limit"}


def test_operations_document_the_error_format_and_idempotency(schema):
    operation = schema["paths"]["/api/ui/workspaces"]["post"]
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}


def test_the_two_bearer_schemes_are_described(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"]["scheme"] == "bearer"
    assert schemes["sessionToken"]["scheme"] == "bearer"
    assert schema["paths"]["/api/workspace"]["get"]["security"] == [{"apiKey": []}]


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files():
    client = Client()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html.lower()
    assert not re.search(r"cdn|unpkg|jsdelivr|cloudflare", html, re.IGNORECASE)
    scripts = re.findall(r'src="([^"]+\.js)"', html)
    assert any("swagger-ui-bundle" in src for src in scripts)
    for src in scripts:
        assert src.startswith("/static/"), src
        asset = client.get(src)
        assert asset.status_code == 200, src
        content = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(content) > 1000, src
