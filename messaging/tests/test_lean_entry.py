"""The WSGI entry's lean paths (messaging_platform/api/lean.py: the integrator's send endpoints and
carrier webhooks without the page middlewares) answer what Django's full middleware stack answers:
the same status, body and headers, request by request. Each request goes to the application that
gunicorn serves (messaging_platform.wsgi) and to Django's own handler with every middleware."""

from urllib.parse import urlencode

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory

from messaging.models import CarrierEvent, Message
from messaging_platform.api import lean
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import inbound_params, signature_headers
from messaging_platform.wsgi import application

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"
# Differ between any two requests (a fresh id, the rate limit's count and window end).
VARYING_HEADERS = {"X-Request-ID", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


def _call(app, environ: dict) -> tuple[str, dict[str, str], bytes]:
    answered: dict = {}

    def start_response(status, headers, exc_info=None):
        answered["status"], answered["headers"] = status, headers

    # As Django's test client does: the test's transaction keeps its connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        iterable = app(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            iterable.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answered["status"], dict(answered["headers"]), body


def _environ(
    method: str, path: str, body: bytes = b"", content_type: str = "application/json", **headers: str
) -> dict:
    return RequestFactory().generic(method, path, body, content_type=content_type, **headers).environ


def _blank(text: bytes) -> bytes:
    """The answer with ids and times blanked (they differ between two sends)."""
    import re

    return re.sub(rb'"(id|sid|created_at|updated_at|conversation_id)":"[^"]*"', rb'"\1":"*"', text)


def assert_same(make_environ, *, before_second=None) -> tuple[str, dict[str, str], bytes]:
    """Serve one request through the lean entry and an equal one through the full stack."""
    assert lean.serves_lean(make_environ()["PATH_INFO"])
    lean_answer = _call(application, make_environ())
    if before_second is not None:
        before_second()
    full_answer = _call(WSGIHandler(), make_environ())
    assert lean_answer[0] == full_answer[0]
    assert set(lean_answer[1]) == set(full_answer[1])
    for name, value in lean_answer[1].items():
        if name not in VARYING_HEADERS:
            assert value == full_answer[1][name], name
    assert _blank(lean_answer[2]) == _blank(full_answer[2])
    return lean_answer


@pytest.fixture
def bearer(api_key) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key.key}"}


SENDS = [
    b'{"to": "+14155552671", "body": "Hello"}',
    b'{"to": "555-1234", "body": "x"}',
    b'{"to": "+14155552671", "body": "x", "from": "+13125550100"}',
    b'{"body": "no recipient"}',
    b'{"to": "+14155552671", "body": ',
    b"[]",
]


@pytest.mark.parametrize("body", SENDS, ids=repr)
def test_a_send_answers_the_same_through_the_lean_entry(bearer, our_number, body):
    status, headers, _ = assert_same(lambda: _environ("POST", "/api/messages", body, **bearer))
    assert headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in headers
    assert "X-Request-ID" in headers and "Vary" not in headers


def test_a_batch_and_the_other_methods_answer_the_same(bearer, our_number):
    batch = b'{"messages": [{"to": "+14155550001", "body": "one"}, {"to": "bad", "body": "two"}]}'
    status, _, body = assert_same(lambda: _environ("POST", "/api/messages/batch", batch, **bearer))
    assert status == "200 OK" and body.count(b'"status":201') == 1
    assert_same(lambda: _environ("GET", "/api/messages", **bearer))
    assert_same(lambda: _environ("DELETE", "/api/messages", **bearer))
    assert Message.objects.count() == 2


def test_refusals_answer_the_same(bearer, our_number, api_key):
    send = b'{"to": "+14155552671", "body": "Hello"}'
    assert_same(lambda: _environ("POST", "/api/messages", send))  # no key
    assert_same(lambda: _environ("POST", "/api/messages", send, HTTP_AUTHORIZATION="Bearer nope"))
    assert_same(lambda: _environ("POST", "/api/messages", send, HTTP_HOST="evil.example", **bearer))
    assert_same(lambda: _environ("POST", "/api/messages", send, content_type="text/plain", **bearer))
    assert_same(lambda: _environ("POST", "/api/messages", b"x" * 100, **bearer, CONTENT_LENGTH=str(10**9)))
    keys = (f"key-{n}" for n in range(10))
    status, _, _ = assert_same(
        lambda: _environ("POST", "/api/messages", send, **bearer, HTTP_IDEMPOTENCY_KEY=next(keys))
    )
    assert status.startswith("201")
    assert Message.objects.count() == 2


def test_a_revoked_key_fails_on_the_very_next_request_of_the_lean_entry(bearer, our_number, api_key):
    send = b'{"to": "+14155552671", "body": "Hello"}'
    assert _call(application, _environ("POST", "/api/messages", send, **bearer))[0] == "201 Created"
    key = api_key.api_key
    type(key).objects.filter(pk=key.pk).update(revoked_at=key.created_at)
    status, headers, _ = _call(application, _environ("POST", "/api/messages", send, **bearer))
    assert status == "401 Unauthorized" and headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.fixture
def inbound(twilio_workspace, twilio_account):
    path = f"/webhooks/twilio/{twilio_workspace.id}/inbound"
    counter = iter(range(1000))

    def make(signed: bool = True, method: str = "POST"):
        params = inbound_params(
            from_number=CONTACT,
            to_number=TWILIO_LONG_CODE,
            body=f"Hi {next(counter)}",
            account_sid=twilio_account.sid,
        )
        headers = signature_headers("http://testserver" + path, params, twilio_account.auth_token)
        if not signed:
            headers = {"X-Twilio-Signature": "forged"}
        return _environ(
            method,
            path,
            urlencode(params).encode(),
            content_type="application/x-www-form-urlencoded",
            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
        )

    return path, make


def test_a_carrier_webhook_answers_the_same_through_the_lean_entry(inbound):
    path, make = inbound
    status, headers, body = assert_same(make)
    assert status == "200 OK" and b"<Response" in body
    assert CarrierEvent.objects.count() == 2
    assert_same(lambda: make(signed=False))
    assert_same(lambda: make(method="GET"))
    assert_same(lambda: _environ("POST", path.replace("/inbound", "/nothing")))
    assert CarrierEvent.objects.count() == 2


def test_other_paths_keep_every_middleware():
    assert not lean.serves_lean("/api/messages/preview")
    assert not lean.serves_lean("/api/ui/workspaces")
    status, headers, _ = _call(application, _environ("GET", "/login/"))
    assert status == "200 OK" and "Cookie" in headers["Vary"]  # the session's and CSRF's


def test_a_lean_path_is_resolved_once_and_answers_as_before(bearer, our_number, monkeypatch):
    from django.urls.resolvers import URLResolver

    handler = lean.LeanApiHandler()
    resolved: list[str] = []
    original = URLResolver.resolve

    def counting(self, path):
        resolved.append(path)
        return original(self, path)

    monkeypatch.setattr(URLResolver, "resolve", counting)
    send = b'{"to": "+14155552671", "body": "Hello"}'
    assert _call(handler, _environ("POST", "/api/messages", send, **bearer))[0] == "201 Created"
    after_first = len(resolved)
    assert after_first > 0
    status, headers, _ = _call(handler, _environ("POST", "/api/messages", send, **bearer))
    assert status == "201 Created" and headers["Allow"] == "GET, POST, HEAD, OPTIONS"
    assert len(resolved) == after_first
    # A path that matches nothing is resolved each time (a 404 is not kept).
    for _ in range(2):
        assert _call(handler, _environ("POST", "/webhooks/nothing"))[0] == "404 Not Found"
    assert len(resolved) > after_first + 1
    assert Message.objects.count() == 2
