"""send_fields answers exactly what the input serializer answers: the validated fields, or the same
error (status, code, detail and fields), for the common shape it computes itself and for the rest."""

import pytest

from messaging.send_input import _common_shape, send_fields
from messaging.serializers import SendInputSerializer
from messaging_platform.api.exceptions import describe_exception

CONTACT = "+14155552671"
NUMBERS = [
    CONTACT,
    "+12015550123",
    "+1415555267",
    "+11415555267",
    "+10155552671",
    "+14155552671 ",
    " +14155552671",
    "+1 415 555 2671",
    "+442071838750",
    "4155552671",
    "",
    " ",
    "+",
    "+19999999999",
    "+12345678901",
    "+1415555267a",
    "+1４１５５５５２６７１",
    14155552671,
    None,
    ["+14155552671"],
    True,
]
BODIES = [
    "Hi",
    "x" * 1600,
    "x" * 1601,
    "é" * 1600,
    "👍" * 800,
    "👍" * 1601,
    "",
    " ",
    " padded ",
    "nul\x00inside",
    "lone \ud83d surrogate",
    "tab\tand\nnewline",
    42,
    None,
    ["x"],
    {"a": 1},
    True,
    "Ünïcödé ✓",
]


def _inputs() -> list:
    inputs: list = []
    inputs += [{"to": number, "body": "Hi"} for number in NUMBERS]
    inputs += [{"to": CONTACT, "body": body} for body in BODIES]
    inputs += [{"to": CONTACT, "body": "Hi", "from": number} for number in NUMBERS]
    inputs += [
        {"body": "no recipient"},
        {"to": CONTACT},
        {},
        {"from": CONTACT},
        {"to": CONTACT, "body": "Hi", "unknown": "ignored"},
        {"to": CONTACT, "body": "Hi", "mediaUrl": "https://example.com/a.png"},
        {"to": CONTACT, "body": "", "media_urls": ["https://example.com/a.png"]},
        {"to": CONTACT, "body": "Hi", "validity_period": 60},
        {"to": CONTACT, "body": "Hi", "status_callback": ""},
        {"to": CONTACT, "body": "Hi", "scheduled_at": None},
        {"to": CONTACT, "body": "x" * 1601, "from": "nope"},
        {"to": "nope", "body": "x" * 1601},
    ]
    inputs += [None, [], ["to"], "text", 42]
    return inputs


def _outcome(validate, data):
    try:
        return "fields", dict(validate(data))
    except Exception as exc:
        described = describe_exception(exc)
        assert described is not None, f"{data!r} raised {exc!r}"
        return "error", described


@pytest.mark.parametrize("data", _inputs(), ids=repr)
def test_send_fields_answers_what_the_serializer_answers(data):
    assert _outcome(send_fields, data) == _outcome(SendInputSerializer().run_validation, data)


def test_the_common_shape_is_computed_without_the_serializer():
    # The inputs above that the fast path takes: a plain send, with or without `from`.
    assert _common_shape({"to": CONTACT, "body": "Hi"}) == {"to": CONTACT, "body": "Hi", "media_urls": []}
    assert _common_shape({"to": CONTACT, "body": "Hi", "from": "+12015550123"})["from"] == ("+12015550123")
    assert _common_shape({"to": CONTACT, "body": "Hi", "from": None})["from"] is None
    for other in (
        {"to": CONTACT, "body": "Hi", "mediaUrl": "https://example.com/a.png"},
        {"to": " +14155552671", "body": "Hi"},
        {"to": CONTACT, "body": ""},
        {"to": CONTACT, "body": "nul\x00"},
        {"to": "+14155552671", "body": "x" * 1601},
    ):
        assert _common_shape(other) is None
