"""Property tests (Hypothesis) for the parts with rules: segments, E.164, status transitions,
Twilio signatures and idempotency. Seeded (derandomize) so a CI failure reproduces locally."""

import re
import string
from urllib.parse import urlencode

import phonenumbers
import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from messaging.lifecycle import message_apply_status
from messaging.models import FINAL_STATUSES, Message, MessageEvent, Status
from messaging.segments import MAX_BODY_CHARACTERS, count_segments
from messaging.tests.conftest import CONTACT
from messaging.webhooks import urlencoded_fields
from numbers.models import ProviderAccount
from numbers.phone import InvalidPhoneNumber, normalize_e164
from numbers.providers import get_provider

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DB_PROPERTY = settings(PROPERTY, max_examples=60)

# --- segments, against an independent implementation of 3GPP TS 23.038 ---------------------------

# The GSM 7-bit default alphabet in code order (0x00–0x7F); 0x1B is the escape to the extension table.
GSM_DEFAULT_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
ESCAPE = 0x1B


def reference_septets(body: str) -> list[int] | None:
    """The body as GSM-7 septets, or None if a character has no GSM-7 code."""
    septets: list[int] = []
    for ch in body:
        if ch in GSM_EXTENSION_TABLE:
            septets += [ESCAPE, GSM_EXTENSION_TABLE[ch]]
        elif ch != "\x1b" and ch in GSM_DEFAULT_TABLE:
            septets.append(GSM_DEFAULT_TABLE.index(ch))
        else:
            return None
    return septets


def reference_segments(body: str) -> tuple[str, int, int]:
    """(encoding, segments, units): fill each part, never ending a part on an escape septet or a
    high surrogate (the pair's second half would land in the next part)."""
    septets = reference_septets(body)
    if septets is not None:
        units, single, multi = septets, 160, 153
        splits_pair = lambda unit: unit == ESCAPE  # noqa: E731
        encoding = "GSM-7"
    else:
        raw = body.encode("utf-16-be")
        units = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        single, multi = 70, 67
        splits_pair = lambda unit: 0xD800 <= unit <= 0xDBFF  # noqa: E731
        encoding = "UCS-2"
    if not units:
        return encoding, 0, 0
    if len(units) <= single:
        return encoding, 1, len(units)
    parts, i = 0, 0
    while i < len(units):
        end = min(i + multi, len(units))
        if end < len(units) and splits_pair(units[end - 1]):
            end -= 1
        parts, i = parts + 1, end
    return encoding, parts, len(units)


def test_the_reference_gsm_table_has_128_codes():
    assert len(GSM_DEFAULT_TABLE) == 128


BODY_ALPHABET = st.sampled_from(
    list("aZ09 @£\n\rÉ.!?") + list(GSM_EXTENSION_TABLE) + list("çéïй€😀👍🏽ßΩ\t\x1b")
)
bodies = st.one_of(
    st.text(BODY_ALPHABET, max_size=MAX_BODY_CHARACTERS),
    st.text(st.sampled_from(list("ab{€")), min_size=140, max_size=480),  # near the boundaries
    st.text(st.sampled_from(list("ab😀")), min_size=55, max_size=220),
    st.text(max_size=300),  # anything Unicode has
)


@PROPERTY
@given(bodies)
@example("a" * 152 + "{" + "a" * 10)
@example("a" * 66 + "😀" + "a" * 66)
def test_segment_counts_match_an_independent_implementation(body):
    info = count_segments(body)
    assert (info.encoding, info.num_segments, info.units) == reference_segments(body)
    assert info.characters == len(body)


# --- E.164 ------------------------------------------------------------------------------------------

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def phone_like(draw) -> str:
    """Real example numbers in their many national and international spellings, or noise."""
    region = draw(st.sampled_from(REGIONS))
    number = phonenumbers.example_number(region)
    assume(number is not None)
    style = draw(
        st.sampled_from(
            [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.RFC3966,
            ]
        )
    )
    text = phonenumbers.format_number(number, style)
    return draw(
        st.sampled_from(
            [
                text,
                " " + text + " ",
                text + draw(st.sampled_from("0x#")),
                text.replace("+", "00", 1),
                text.replace("+", ""),
            ]
        )
    )


raw_numbers = st.one_of(
    phone_like(),
    st.from_regex(r"\+?[0-9 ()\-.]{0,20}", fullmatch=True),
    st.text(alphabet=string.printable + "٠١٢٣+＋", max_size=80),
)


@PROPERTY
@given(raw_numbers, st.one_of(st.none(), st.sampled_from(["US", "GB", "DE", "IN"])))
def test_normalisation_gives_valid_e164_or_invalid_phone_number_and_is_idempotent(raw, region):
    try:
        normal = normalize_e164(raw, region)
    except InvalidPhoneNumber:
        return
    assert E164.match(normal), normal
    assert phonenumbers.is_valid_number(phonenumbers.parse(normal))
    assert normalize_e164(normal) == normal
    assert normalize_e164(normal, region) == normal


@PROPERTY
@given(st.one_of(st.integers(), st.none(), st.lists(st.text()), st.binary(), st.floats()))
def test_a_non_string_is_an_invalid_phone_number(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164(raw)


# --- status transitions -------------------------------------------------------------------------

CARRIER_STATUSES = [
    Status.SENDING,
    Status.SENT,
    Status.DELIVERED,
    Status.UNDELIVERED,
    Status.FAILED,
    Status.QUEUED,
]


def expected_final(start: str, events: list[str]) -> str:
    """The rule, stated without the rank table: the first final status wins for good; before one
    arrives, the furthest of queued < sending < sent reached so far stands."""
    for status in events:
        if status in FINAL_STATUSES:
            return status
    order = [Status.QUEUED, Status.SENDING, Status.SENT]
    return max([start, *events], key=order.index)


@pytest.mark.django_db
@DB_PROPERTY
@given(
    start=st.sampled_from([Status.QUEUED, Status.SENDING, Status.SENT]),
    events=st.lists(st.sampled_from(CARRIER_STATUSES), max_size=8),
)
@example(start=Status.SENT, events=[Status.DELIVERED, Status.SENT])  # a late `sent`
@example(start=Status.QUEUED, events=[Status.FAILED, Status.DELIVERED, Status.FAILED])
def test_any_order_or_repetition_of_carrier_events_ends_in_the_right_state(workspace, start, events):
    message = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status=start,
        to_number=CONTACT,
        from_number="+12015550123",
        body="x",
    )
    for n, status in enumerate(events):
        error = f"300{n}" if status in (Status.FAILED, Status.UNDELIVERED) else None
        message_apply_status(message=message, status=status, error_code=error)
    message.refresh_from_db()
    final = expected_final(start, events)
    assert message.status == final
    # Only moves are recorded, and each status at most once: a duplicate leaves no trace.
    recorded = list(MessageEvent.objects.filter(message=message).values_list("status", flat=True))
    assert len(recorded) == len(set(recorded))
    if final in (Status.FAILED, Status.UNDELIVERED):
        assert message.error_code == f"300{events.index(final)}"
    assert (message.delivered_at is not None) == (final == Status.DELIVERED)
    if final != start and (final in FINAL_STATUSES or final == Status.SENT):
        assert message.sent_at is not None


# --- Twilio signatures ------------------------------------------------------------------------------

TOKEN = "f" * 32
urls = st.builds(
    lambda host, path, query: f"https://{host}/webhooks/twilio/{path}" + (f"?{query}" if query else ""),
    st.sampled_from(["platform.example.com", "sms.example.org"]),
    st.from_regex(r"ws_[a-z0-9]{1,12}/(status|inbound)", fullmatch=True),
    st.from_regex(r"(message_id=msg_[a-z0-9]{1,8})?", fullmatch=True),
)
params_strategy = st.dictionaries(
    st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
    st.text(max_size=40),
    max_size=8,
)


@st.composite
def signed_requests(draw):
    url, params = draw(urls), draw(params_strategy)
    genuine = RequestValidator(TOKEN).compute_signature(url, params)
    kind = draw(
        st.sampled_from(["genuine", "other_token", "other_params", "other_url", "noise", "flipped", "empty"])
    )
    if kind == "genuine":
        signature = genuine
    elif kind == "other_token":
        signature = RequestValidator("e" * 32).compute_signature(url, params)
    elif kind == "other_params":
        signature = RequestValidator(TOKEN).compute_signature(url, {**params, "Body": "forged"})
    elif kind == "other_url":
        signature = RequestValidator(TOKEN).compute_signature(url + "x", params)
    elif kind == "flipped":
        i = draw(st.integers(0, len(genuine) - 1))
        signature = genuine[:i] + ("A" if genuine[i] != "A" else "B") + genuine[i + 1 :]
    elif kind == "empty":
        signature = ""
    else:
        signature = draw(st.text(max_size=40))
    return url, params, signature, genuine


@PROPERTY
@given(signed_requests())
def test_a_webhook_signature_is_valid_iff_the_twilio_library_computed_it(request_parts):
    url, params, signature, genuine = request_parts
    provider = get_provider(ProviderAccount(provider="twilio", account_sid="AC" + "0" * 32, auth_token=TOKEN))
    assert provider.validate_webhook(url=url, params=params, signature=signature) == (signature == genuine)


ported_urls = st.builds(
    lambda scheme, port, path: f"{scheme}://platform.example.com{port}/webhooks/twilio/{path}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["", ":80", ":443", ":8443"]),
    st.from_regex(r"ws_[a-z0-9]{1,8}/status(\?message_id=msg_[a-z0-9]{1,8})?", fullmatch=True),
)


@PROPERTY
@given(ported_urls, ported_urls, params_strategy)
def test_a_webhook_signature_is_valid_iff_the_twilio_library_validates_it_whatever_the_ports(
    called_url, signed_url, params
):
    provider = get_provider(ProviderAccount(provider="twilio", account_sid="AC" + "0" * 32, auth_token=TOKEN))
    signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
    expected = RequestValidator(TOKEN).validate(called_url, params, signature)
    assert provider.validate_webhook(url=called_url, params=params, signature=signature) == expected


form_bytes = st.one_of(
    st.binary(max_size=80),
    st.lists(
        st.tuples(st.text(max_size=6), st.text(max_size=8)).map(lambda kv: urlencode([kv]).encode()),
        max_size=6,
    ).map(b"&".join),
    st.text(alphabet="ab=&+%2C3Ddé;", max_size=30).map(lambda text: text.encode()),
    # Escapes of UTF-8 fragments, whole or cut, beside separators and raw non-ASCII text.
    st.lists(
        st.sampled_from(
            ["%C3", "%A9", "%E2", "%82", "%AC", "%F0", "%9F", "é", "&", "=", "a", "%", "%2", "+"]
        ),
        max_size=20,
    ).map(lambda parts: "".join(parts).encode()),
)


@settings(PROPERTY, max_examples=1000)
@given(form_bytes)
@example(b"a%3db=1&%C3%A9=%E2%82")  # an escaped = (lower case); UTF-8 cut short
@example(b"a%3D=b&c=%26")  # an escaped = and &
def test_a_webhook_form_is_read_as_django_reads_it(body):
    # The carrier signed the form Django parses: each name's last value, blank values kept.
    assert urlencoded_fields(body, "utf-8") == QueryDict(body, encoding="utf-8").dict()


# --- idempotency --------------------------------------------------------------------------------


@pytest.mark.django_db
@settings(PROPERTY, max_examples=25)
@given(
    body=st.fixed_dictionaries(
        {"to": st.just(CONTACT), "body": st.text(min_size=1, max_size=50).filter(str.strip)}
    ),
    repeats=st.integers(1, 4),
    key=st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=60),
)
def test_the_same_idempotency_key_and_body_make_one_message(
    api_client, our_number, body, repeats, key, settings
):
    settings.API_KEY_RATE_LIMIT = "100000/m"
    key = f"{key}-{Message.objects.count()}"  # each example its own key
    before = Message.objects.count()
    answers = [
        api_client.post("/api/messages", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        for _ in range(repeats)
    ]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert Message.objects.count() == before + 1
    conflict = api_client.post(
        "/api/messages", {**body, "body": body["body"] + "!"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert conflict.status_code == 409
    assert Message.objects.count() == before + 1
