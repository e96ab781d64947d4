import pytest

from messaging_platform.api.exceptions import describe_exception
from numbers.phone import InvalidPhoneNumber, is_e164, normalize_e164


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("+14155552671", None, "+14155552671"),
        ("+1 (415) 555-2671", None, "+14155552671"),
        (" +44 20 7946 0958 ", None, "+442079460958"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_it_normalises_numbers_to_e164(raw, region, expected):
    assert normalize_e164(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "hello",
        "4155552671",
        "+1555",
        "+15551234567",
        "+999123",
        "+1" + "2" * 70,
        "+14155552671abc\x00",
    ],
)
def test_it_rejects_malformed_or_invalid_numbers(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_e164(raw)
    status, body, _ = describe_exception(caught.value)  # what the API answers for it
    assert status == 400
    assert body["error"] == caught.value.code == "invalid_phone_number"


def test_the_error_is_a_value_error_for_code_outside_requests():
    with pytest.raises(ValueError):
        normalize_e164("nope")


def test_it_rejects_values_that_are_not_strings():
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164(14155552671)  # type: ignore[arg-type]


def test_is_e164_accepts_only_the_normalised_form():
    assert is_e164("+14155552671")
    assert not is_e164("+1 415 555 2671")
    assert not is_e164("nope")


# The fast path for NANP numbers in E.164, and the per-process cache, against the library itself.
import random  # noqa: E402

import phonenumbers  # noqa: E402

from numbers import phone  # noqa: E402


def _library(raw: str, region: str | None = None) -> str | None:
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _ours(raw: str, region: str | None = None) -> str | None:
    phone._normalized.cache_clear()
    try:
        return normalize_e164(raw, region)
    except InvalidPhoneNumber:
        return None


def _table() -> list[str]:
    rng = random.Random(12)
    numbers = [f"+1{rng.randint(2000000000, 9999999999)}" for _ in range(20000)]
    # Every area code and exchange shape once, valid or not.
    numbers += [
        f"+1{npa}{nxx}5550{i % 10}"
        for i, (npa, nxx) in enumerate((a, b) for a in range(200, 1000, 7) for b in (200, 555, 911, 100, 999))
    ]
    # Near misses of the fast path's shape, which the library must decide.
    numbers += [
        "+10155552671",
        "+11155552671",
        "+1415555267",
        "+141555526711",
        "+1 4155552671",
        "+1415555267x",
        "+２１５５５５２６７１",
        "+1٤١٥٥٥٥٢٦٧١",
    ]
    numbers += [f"+{rng.randint(20, 998)}{rng.randint(10**6, 10**11)}" for _ in range(3000)]
    return numbers


def test_normalising_agrees_with_the_library_on_a_large_table():
    disagreements = [(raw, _ours(raw), _library(raw)) for raw in _table() if _ours(raw) != _library(raw)]
    assert not disagreements, disagreements[:10]
    valid = sum(1 for raw in _table()[:20000] if _library(raw))
    assert 1000 < valid < 19000  # the table holds both valid and invalid NANP numbers


def test_a_cached_answer_is_the_same_as_the_first():
    phone._normalized.cache_clear()
    first = [_ours(raw) for raw in ("+14155552671", "+15551234567", "+1 (415) 555-2671")]
    again = [
        normalize_e164(raw) if ok else None
        for raw, ok in zip(("+14155552671", "+15551234567", "+1 (415) 555-2671"), first, strict=True)
    ]
    assert first == again == ["+14155552671", None, "+14155552671"]
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164("+15551234567")  # an invalid answer is cached as invalid, and raises
