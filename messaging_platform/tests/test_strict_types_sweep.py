"""No JSON endpoint coerces a non-string into a string: `{"body": 1e999}` is not stored as "inf",
`{"name": 42}` not as "42". Each is a 400 that names the field, and nothing changes.

The sweep reads the request bodies of every JSON operation from the OpenAPI schema, so an endpoint
or a string field added later is covered without editing this file. Each string property is sent,
in turn, as a number, a huge float, a boolean, a list and an object, beside valid values for the
operation's other properties (VALID), on Acme's real objects (the tenancy sweep's seeds).
"""

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from messaging_platform.tests.test_tenancy_sweep import acme, acme_ids, snapshot, value_for

__all__ = ["acme"]  # the fixture, used by name below

pytestmark = pytest.mark.django_db

# Raw JSON texts: 1e999 is what a client sent to get "inf" stored as a body.
NOT_STRINGS = ["12345", "1e999", "true", '["text"]', '{"text": "x"}']
NOT_STRING_ITEMS = ["[12345]", "[true]"]
NOT_STRING_VALUES = ['{"city": 12345}']
# A valid value for each property an operation may require, so that the bad one is what fails.
VALID = {
    "name": '"Renamed"',
    "email": '"new-person@example.com"',
    "password": '"correct-horse-9"',
    "role": '"member"',
    "token": '"t0ken"',
    "phone_number": '"+14155552699"',
    "to": '"+14155552671"',
    "body": '"Hello"',
    "url": '"https://hooks.example.com/sms"',
    "events": '["message.received"]',
    "provider": '"simulator"',
    "kind": '"queue_backlog"',
    "threshold": "60",
    "prefix": '"+44"',
    "account_id": '"ca_missing"',
    "audience": '{"all": true}',
    "messages": '[{"to": "+14155552671", "body": "x"}]',
    "timezone": '"UTC"',
    "body_retention_days": "30",
    "current_password": '"correct-horse-9"',
    "new_password": '"new-horse-10"',
}
PATH_PARAM = re.compile(r"\{(\w+)\}")


def json_operations() -> list[tuple[str, str, dict]]:
    """(method, path, request-body schema) of every operation taking a JSON body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if method in ("post", "put", "patch") and "application/json" in content:
                body = resolve(content["application/json"].get("schema", {}))
                properties = {name: resolve(prop) for name, prop in body.get("properties", {}).items()}
                found.append((method, path, {"properties": properties, "required": body.get("required", [])}))
    return found


def bad_values(prop: dict) -> list[str]:
    if prop.get("readOnly"):
        return []
    kind = prop.get("type")
    if kind == "string" or (kind is None and "enum" in prop):
        return NOT_STRINGS
    if kind == "array" and (prop.get("items") or {}).get("type") == "string":
        return NOT_STRING_ITEMS
    if kind == "object" and (prop.get("additionalProperties") or {}).get("type") == "string":
        return NOT_STRING_VALUES
    return []


def client_for_path(path: str, owner_client, api_client):
    return owner_client if path.startswith(("/api/ui/", "/api/auth/")) else api_client


def test_the_sweep_finds_the_json_bodies_and_their_string_fields():
    operations = {(method, path): body for method, path, body in json_operations()}
    send = operations[("post", "/api/messages")]["properties"]
    assert bad_values(send["body"]) == NOT_STRINGS
    assert ("post", "/api/ui/workspaces/{workspace_id}/contacts") in operations
    assert ("post", "/api/auth/login") in operations


def test_no_json_endpoint_takes_a_non_string_where_it_documents_a_string(
    acme, member, owner_client, api_client, settings
):
    settings.UI_RATE_LIMIT = "100000/m"
    settings.API_KEY_RATE_LIMIT = "100000/m"
    ids = acme_ids(acme, member) | {"workspace_id": acme.id}
    owner_client.get("/api/auth/me")  # records the credentials' use before the snapshot
    api_client.get("/api/workspace")
    before = snapshot()
    tried, wrong = 0, []
    for method, path, body in json_operations():
        if not path.startswith("/api/"):
            continue  # the Twilio-compatible API is form-encoded: every value is a string there
        url = PATH_PARAM.sub(lambda m: value_for(m[1], ids)[0], path)
        client = client_for_path(path, owner_client, api_client)
        base = {name: VALID[name] for name in body["properties"] if name in VALID}
        for name, prop in body["properties"].items():
            for bad in bad_values(prop):
                fields = {**base, name: bad}
                text = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"
                response = client.generic(method.upper(), url, text, content_type="application/json")
                tried += 1
                answer = response.json() if response.content else {}
                # 1e999 does not parse as a JSON number PostgreSQL or Python could hold: the whole
                # body is refused as malformed, before any field is read.
                named = (
                    name in (answer.get("fields") or {}) or name in answer.get("detail", "") or bad == "1e999"
                )
                # A send's preview answers what a send would refuse, as its validation errors.
                previewed = (
                    response.status_code == 200
                    and answer.get("valid") is False
                    and name in answer.get("errors", {})
                )
                refused = (
                    response.status_code == 400
                    and answer.get("error") in ("invalid_params", "missing_params", "invalid_phone_number")
                    and named
                )
                if not (refused or previewed):
                    wrong.append(
                        f"{method.upper()} {path} {name}={bad}: {response.status_code} "
                        f"{response.content[:160]!r}"
                    )
    assert wrong == [], "\n".join(wrong)
    assert tried > 150
    # Nothing was stored: not one row changed anywhere.
    assert snapshot() == before
