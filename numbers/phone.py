"""E.164 phone numbers, validated and normalised with `phonenumbers`. Shared by numbers and messaging."""

import functools
import re

import phonenumbers

from messaging_platform.errors import DomainError

# Longer input than this is not a phone number, whatever its punctuation; refuse it before parsing.
MAX_RAW_LENGTH = 64


class InvalidPhoneNumber(DomainError, ValueError):
    """A 400 `invalid_phone_number` in the API; a ValueError to code outside a request."""

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__("invalid_phone_number", detail, fields={field: [detail]} if field else None)


# The shape most traffic has: a NANP number already in E.164. For it the library's parse (about
# 75 µs) can be skipped: it would yield country code 1 and these ten digits, nothing else.
_NANP_E164 = re.compile(r"\+1[2-9]\d{9}")
_NOT_A_NUMBER, _NOT_VALID = "not-a-number", "not-valid"


def _us_decides_first() -> bool:
    """Whether the library gives a NANP number the region US whenever it is valid for the US: US
    comes first among country code 1's regions and has no leading digits, so the library's
    region lookup (which checks each region's patterns in order) stops at US for such a number."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ())
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("US", None)
    return bool(regions) and regions[0] == "US" and metadata is not None and metadata.leading_digits is None


_US_FIRST = _us_decides_first()


def _valid_nanp(number: phonenumbers.PhoneNumber) -> bool:
    """phonenumbers.is_valid_number for country code 1. A number valid for the US (most traffic)
    is valid, and the library would have checked the US patterns twice to say so (once to find
    its region, once to validate it there); any other goes through the library whole."""
    if _US_FIRST and phonenumbers.is_valid_number_for_region(number, "US"):
        return True
    return phonenumbers.is_valid_number(number)


@functools.lru_cache(maxsize=16384)
def _normalized(raw: str, default_region: str | None) -> str:
    """The E.164 form of a stripped `raw`, or one of the two failure markers. Cached per process:
    the answer depends only on the input and the library's metadata."""
    if default_region is None and _NANP_E164.fullmatch(raw):
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(raw[2:]))
        return raw if _valid_nanp(number) else _NOT_VALID
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return _NOT_A_NUMBER
    if not phonenumbers.is_valid_number(parsed):
        return _NOT_VALID
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_e164(raw: str, default_region: str | None = None, *, field: str | None = None) -> str:
    """`raw` as E.164 (`+14155552671`). Without `default_region` the number must start with `+`.

    Raises InvalidPhoneNumber if it cannot be parsed or is not a valid number for its region.
    `field` names the request field in the error's `fields`.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW_LENGTH:
        raise InvalidPhoneNumber("Not a phone number; use E.164, for example +14155552671.", field=field)
    stripped = raw.strip()
    result = _normalized(stripped, default_region)
    if result == _NOT_A_NUMBER:
        raise InvalidPhoneNumber(
            f"'{stripped}' is not a phone number; use E.164, for example +14155552671.", field=field
        )
    if result == _NOT_VALID:
        raise InvalidPhoneNumber(f"'{stripped}' is not a valid phone number.", field=field)
    return result


def is_e164(value: str) -> bool:
    try:
        return normalize_e164(value) == value
    except InvalidPhoneNumber:
        return False


# An alphanumeric sender id (SMPP's TON 5): up to 11 characters of the GSM alphabet's letters,
# digits, space and . & _ -, with at least one letter (all digits would be a number).
_SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .&_-]{0,10}")


def is_sender_id(value: str) -> bool:
    return isinstance(value, str) and bool(_SENDER_ID.fullmatch(value)) and any(c.isalpha() for c in value)
