"""The raw entry (messaging_platform/raw_entry.py) answers what Django's full middleware stack
answers: for a matrix of sends and carrier webhooks, the same status, body and headers (in the
same order; only the request id and the rate limit's count and window end differ), the same
metrics; the requests of the common shape are served without the middleware chain, the others
handed to it before any side effect."""

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory

from messaging.models import CarrierEvent, Message, Status
from messaging_platform import metrics
from messaging_platform.raw_entry import RawApiHandler
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import (
    inbound_params,
    new_sid,
    signature_headers,
    status_params,
)

pytestmark = pytest.mark.django_db

CONTACT = "+14155552671"
VARYING_HEADERS = {"X-Request-ID", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"}
SEND = b'{"to": "+14155552671", "body": "Hello"}'

Answer = tuple[str, list[tuple[str, str]], bytes]


def _call(app, environ: dict) -> Answer:
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
    return answered["status"], answered["headers"], body


def _environ(
    method: str, path: str, body: bytes = b"", content_type: str = "application/json", **headers: str
) -> dict:
    return RequestFactory().generic(method, path, body, content_type=content_type, **headers).environ


def _blank(text: bytes) -> bytes:
    """The answer with ids and times blanked (they differ between two sends)."""
    import re

    return re.sub(rb'"(id|sid|created_at|updated_at|conversation_id)":"[^"]*"', rb'"\1":"*"', text)


class Entries:
    """The raw entry, counting the requests it hands to its middleware chain, and Django's own
    handler with every middleware."""

    def __init__(self) -> None:
        self.raw = RawApiHandler()
        self.full = WSGIHandler()
        self.chained = 0
        chain = self.raw._chain

        def counting(request):
            self.chained += 1
            return chain(request)

        self.raw._chain = counting

    def same(self, make_environ: Callable[[], dict], *, raw: bool) -> Answer:
        """One request through the raw entry, an equal one through the full stack: the same
        answer. `raw`: whether the raw entry serves it without its middleware chain."""
        before = self.chained
        served = _call(self.raw, make_environ())
        assert (self.chained == before) is raw, "served raw" if not raw else "handed to the chain"
        full = _call(self.full, make_environ())
        assert served[0] == full[0]
        assert [name for name, _ in served[1]] == [name for name, _ in full[1]]
        full_headers = dict(full[1])
        for name, value in served[1]:
            if name not in VARYING_HEADERS:
                assert value == full_headers[name], name
        assert _blank(served[2]) == _blank(full[2])
        return served


@pytest.fixture
def entries() -> Entries:
    return Entries()


@pytest.fixture
def bearer(api_key) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key.key}"}


def _send(body: bytes = SEND, **extra: str) -> Callable[[], dict]:
    return lambda: _environ("POST", "/api/messages", body, **extra)


def test_sends_of_the_common_shape_are_served_raw_and_answer_as_the_full_stack(entries, bearer, our_number):
    status, headers, _ = entries.same(_send(**bearer), raw=True)
    assert status == "201 Created"
    names = dict(headers)
    assert names["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in names
    assert names["Allow"] == "GET, POST, HEAD, OPTIONS" and "X-RateLimit-Limit" in names
    assert "X-Request-ID" in names and "Vary" not in names
    # Refused by the handler (a DomainError, a validation error): answered raw, in the error format.
    entries.same(_send(b'{"to": "555-1234", "body": "x"}', **bearer), raw=True)
    entries.same(_send(b'{"body": "no recipient"}', **bearer), raw=True)
    batch = b'{"messages": [{"to": "+14155550001", "body": "one"}, {"to": "bad", "body": "two"}]}'
    status, _, body = entries.same(lambda: _environ("POST", "/api/messages/batch", batch, **bearer), raw=True)
    assert status == "200 OK" and body.count(b'"status":201') == 1
    # The caller's request id is echoed, and HTTPS answers carry HSTS, on both.
    _, headers, _ = entries.same(_send(**bearer, HTTP_X_REQUEST_ID="caller-id-1234"), raw=True)
    assert dict(headers)["X-Request-ID"] == "caller-id-1234"
    _, headers, _ = entries.same(_send(**bearer, secure=True), raw=True)
    assert "Strict-Transport-Security" in dict(headers)
    assert Message.objects.count() == 2 * 4


def test_unusual_sends_are_handed_to_the_full_stack_before_anything_is_stored(entries, bearer, our_number):
    entries.same(_send(), raw=False)  # no key
    entries.same(_send(HTTP_AUTHORIZATION="Bearer nope"), raw=False)
    entries.same(_send(b'{"to": "+14155552671", "body": ', **bearer), raw=False)  # bad JSON
    entries.same(_send(b"[]", **bearer), raw=False)
    entries.same(_send(b"", **bearer), raw=False)
    entries.same(
        lambda: _environ("POST", "/api/messages", SEND, content_type="text/plain", **bearer), raw=False
    )
    entries.same(_send(**bearer, HTTP_ACCEPT="text/html"), raw=False)
    entries.same(_send(**bearer, HTTP_HOST="evil.example"), raw=False)
    entries.same(_send(b"x" * 100, **bearer, CONTENT_LENGTH=str(10**9)), raw=False)
    entries.same(lambda: _environ("POST", "/api/messages?x=%00", SEND, **bearer), raw=False)
    entries.same(lambda: _environ("GET", "/api/messages", **bearer), raw=False)
    assert Message.objects.count() == 0
    keys = iter(["key-1", "key-2"])
    status, _, _ = entries.same(lambda: _send(**bearer, HTTP_IDEMPOTENCY_KEY=next(keys))(), raw=False)
    assert status == "201 Created" and Message.objects.count() == 2


def test_a_throttled_send_is_refused_raw_as_the_full_stack_refuses_it(entries, bearer, our_number, settings):
    settings.API_KEY_RATE_LIMIT = "1/m"
    assert _call(entries.raw, _send(**bearer)())[0] == "201 Created"
    status, headers, _ = entries.same(_send(**bearer), raw=True)
    assert status == "429 Too Many Requests" and "Retry-After" in dict(headers)
    assert Message.objects.count() == 1


def test_a_revoked_key_fails_on_the_very_next_raw_request(entries, bearer, our_number, api_key):
    assert _call(entries.raw, _send(**bearer)())[0] == "201 Created"
    key = api_key.api_key
    type(key).objects.filter(pk=key.pk).update(revoked_at=key.created_at)
    status, headers, _ = _call(entries.raw, _send(**bearer)())
    assert status == "401 Unauthorized" and dict(headers)["WWW-Authenticate"] == 'Bearer realm="api"'
    assert Message.objects.count() == 1


def test_the_raw_entry_counts_each_request_in_the_metrics_as_the_stack_does(entries, bearer, our_number):
    def count(status: str) -> float:
        return metrics.HTTP_REQUESTS.labels("POST", "api/messages", status)._value.get()

    before = count("201"), count("401")
    _call(entries.raw, _send(**bearer)())
    _call(entries.raw, _send()())  # handed to the chain: counted there, once
    assert (count("201"), count("401")) == (before[0] + 1, before[1] + 1)


@pytest.fixture
def webhook(twilio_workspace, twilio_account):
    counter = iter(range(1000))

    def make(route: str, params: dict, *, signed: bool = True, query: str = "", method: str = "POST"):
        path = f"/webhooks/twilio/{twilio_workspace.id}/{route}"
        url = "http://testserver" + path + (f"?{query}" if query else "")
        headers = signature_headers(url, params, twilio_account.auth_token) if signed else {}
        if not signed:
            headers = {"X-Twilio-Signature": "forged"}
        return lambda: _environ(
            method,
            path + (f"?{query}" if query else ""),
            urlencode(params).encode(),
            content_type="application/x-www-form-urlencoded",
            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
        )

    def inbound(to_number: str = TWILIO_LONG_CODE) -> dict:
        return inbound_params(
            from_number=CONTACT,
            to_number=to_number,
            body=f"Hi {next(counter)}",
            account_sid=twilio_account.sid,
        )

    return make, inbound


def test_carrier_webhooks_are_served_raw_and_answer_as_the_full_stack(entries, webhook, twilio_workspace):
    make, inbound = webhook
    status, _, body = entries.same(make("inbound", inbound()), raw=True)  # the 2nd: a duplicate
    assert status == "200 OK" and b"<Response" in body
    assert CarrierEvent.objects.count() == 1
    entries.same(make("inbound", inbound(), signed=False), raw=True)
    entries.same(make("inbound", inbound(to_number="+14155550000")), raw=True)  # not our number
    entries.same(make("nothing", inbound()), raw=True)
    entries.same(
        lambda: _environ("POST", f"/webhooks/twilio/{twilio_workspace.id}/inbound", b"%zz"), raw=True
    )
    entries.same(make("inbound", inbound(), method="GET"), raw=False)
    entries.same(lambda: _environ("POST", "/webhooks/nothing"), raw=False)
    assert CarrierEvent.objects.count() == 1


def test_status_callbacks_and_their_duplicates_answer_as_the_full_stack(entries, webhook, twilio_workspace):
    make, _ = webhook
    message = Message.objects.create(
        workspace=twilio_workspace,
        direction="outbound",
        status=Status.SENDING,
        to_number=CONTACT,
        from_number=TWILIO_LONG_CODE,
        body="hi",
        provider_sid=new_sid("SM"),
    )

    def callback(status: str, sid: str = message.provider_sid) -> dict:
        return status_params(message_sid=sid, status=status, from_number=TWILIO_LONG_CODE, to_number=CONTACT)

    query = f"message_id={message.id}"
    status, _, _ = entries.same(make("status", callback("sent"), query=query), raw=True)  # 2nd: duplicate
    assert status == "204 No Content"
    entries.same(make("status", callback("delivered"), query=query), raw=True)
    assert CarrierEvent.objects.filter(kind="status").count() == 2
    entries.same(make("status", callback("sent", new_sid("SM"))), raw=True)  # no such message: 404
    entries.same(make("status", callback("sent"), query=query, signed=False), raw=True)
    assert CarrierEvent.objects.filter(kind="status").count() == 2
