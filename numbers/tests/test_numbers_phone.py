import pytest

from numbers.phone import InvalidPhoneNumber, is_e164, normalize_e164


@pytest.mark.parametrize("raw, region, expected", [
    ("+14155552671", None, "+14155552671"),
    ("+1 (415) 555-2671", None, "+14155552671"),
    (" +44 20 7946 0958 ", None, "+442079460958"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("020 7946 0958", "GB", "+442079460958"),
])
def test_it_normalises_numbers_to_e164(raw, region, expected):
    assert normalize_e164(raw, region) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "hello", "4155552671", "+1555", "+15551234567", "+999123", "+1" + "2" * 70,
    "+14155552671abc\x00",
])
def test_it_rejects_malformed_or_invalid_numbers(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_e164(raw)
    assert caught.value.status_code == 400
    assert caught.value.error_code == "invalid_phone_number"


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
