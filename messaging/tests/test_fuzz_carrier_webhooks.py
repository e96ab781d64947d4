"""Carrier webhooks under bad input: malformed forms, missing fields, huge bodies, wrong encodings,
signed or not. Every answer is a 4xx and nothing is stored (no carrier event, no message)."""

import string

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.models import CarrierEvent, Message
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import compute_signature
from numbers.models import PhoneNumber, ProviderAccount

pytestmark = pytest.mark.django_db

FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TWILIO_KEYS = [
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaUrl1",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "ErrorMessage",
    "MessagingServiceSid",
    "NumSegments",
    "ApiVersion",
]
values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "delivered",
            "sent",
            "failed",
            "-1",
            "99999999999",
            "1e9",
            "NaN",
            "+14155552671",
            "SM" + "0" * 32,
            "\x00",
            "null",
            "STOP",
        ]
    ),
)
forms = st.dictionaries(
    st.one_of(st.sampled_from(TWILIO_KEYS), st.text(string.printable, max_size=12)), values, max_size=10
)


@pytest.fixture
def twilio_workspace(workspace):
    ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", account_sid="AC" + "1" * 32, auth_token="t" * 32
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=TWILIO_LONG_CODE, is_default=True)
    return workspace


def stored() -> tuple[int, int]:
    return CarrierEvent.objects.count(), Message.objects.count()


def post(path: str, params: dict, *, sign: bool, query: str = ""):
    full = path + (f"?{query}" if query else "")
    headers = (
        {"X-Twilio-Signature": compute_signature("http://testserver" + full, params, "t" * 32)}
        if sign
        else {}
    )
    return Client().post(full, params, headers=headers)


def is_malformed(kind: str, params: dict) -> bool:
    """Forms that must be refused even when correctly signed: they cannot name a real message
    or one of our numbers (the generated values never do)."""
    return params.get("To") != TWILIO_LONG_CODE if kind == "inbound" else True


@FUZZ
@given(
    kind=st.sampled_from(["inbound", "status"]),
    params=forms,
    sign=st.booleans(),
    query=st.sampled_from(["", "message_id=msg_nope", "message_id=%00", "x=%ff"]),
)
def test_malformed_webhooks_are_refused_with_a_4xx_and_store_nothing(
    twilio_workspace, kind, params, sign, query
):
    params = {k: v for k, v in params.items() if "\x00" not in k}
    before = stored()
    response = post(f"/webhooks/twilio/{twilio_workspace.id}/{kind}", params, sign=sign, query=query)
    if not sign or is_malformed(kind, params):
        assert 400 <= response.status_code < 500, (response.status_code, params)
        assert stored() == before
    else:
        assert response.status_code < 500, (response.status_code, params)


@pytest.mark.parametrize("kind", ["inbound", "status"])
@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", b"To=%2B1&Body=" + b"x" * (3 * 1024 * 1024)),  # 3 MB
        ("application/x-www-form-urlencoded", b"\xff\xfe\x00B\x00o\x00d\x00y=\xff"),  # not UTF-8
        ("application/x-www-form-urlencoded; charset=utf-16", "Body=hi".encode("utf-16")),
        ("application/x-www-form-urlencoded; charset=nonsense", b"Body=hi"),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage"),
        ("application/json", b'{"MessageSid": "SM1", "To": "+12025550100"}'),
        ("text/xml", b"<Response/>"),
        ("application/x-www-form-urlencoded", b"&&&==&%%%"),
        ("application/x-www-form-urlencoded", b"a=1&" * 5000),  # more fields than Django allows
    ],
)
def test_oversized_and_wrongly_encoded_bodies_are_refused(twilio_workspace, kind, content_type, body):
    before = stored()
    path = f"/webhooks/twilio/{twilio_workspace.id}/{kind}"
    for headers in ({}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}):
        response = Client().generic("POST", path, body, content_type=content_type, headers=headers)
        assert 400 <= response.status_code < 500, (response.status_code, content_type)
    assert stored() == before


def test_a_signed_inbound_claiming_a_billion_media_is_answered_at_once(twilio_workspace):
    # NumMedia drives a loop over MediaUrl{i}; Twilio sends at most 10.
    params = {
        "MessageSid": "SM" + "2" * 32,
        "From": "+14155552671",
        "To": TWILIO_LONG_CODE,
        "Body": "hi",
        "NumMedia": "1000000000",
    }
    response = post(f"/webhooks/twilio/{twilio_workspace.id}/inbound", params, sign=True)
    assert response.status_code in (200, 400)
