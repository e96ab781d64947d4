"""E.164 phone numbers, validated and normalised with `phonenumbers`. Shared by numbers and messaging."""

import phonenumbers
from rest_framework import serializers

from messaging_platform.api.errors import ApiError

# Longer input than this is not a phone number, whatever its punctuation; refuse it before parsing.
MAX_RAW_LENGTH = 64


class InvalidPhoneNumber(ApiError, ValueError):
    """A 400 `invalid_phone_number` in the API; a ValueError to code outside a request."""

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__("invalid_phone_number", detail, status=400,
                         fields={field: [detail]} if field else None)


def normalize_e164(raw: str, default_region: str | None = None, *, field: str | None = None) -> str:
    """`raw` as E.164 (`+14155552671`). Without `default_region` the number must start with `+`.

    Raises InvalidPhoneNumber if it cannot be parsed or is not a valid number for its region.
    `field` names the request field in the error's `fields`.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW_LENGTH:
        raise InvalidPhoneNumber("Not a phone number; use E.164, for example +14155552671.",
                                 field=field)
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"'{raw.strip()}' is not a phone number; use E.164, for example "
                                 "+14155552671.", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"'{raw.strip()}' is not a valid phone number.", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    try:
        return normalize_e164(value) == value
    except InvalidPhoneNumber:
        return False


class E164Field(serializers.CharField):
    """A serializer field that answers the normalised E.164 string, or a 400 invalid_phone_number."""

    def __init__(self, *, default_region: str | None = None, **kwargs):
        self.default_region = default_region
        kwargs.setdefault("max_length", MAX_RAW_LENGTH)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        # A blank or null number is a malformed number, not a generic invalid parameter.
        if data is None or (isinstance(data, str) and not data.strip()):
            raise InvalidPhoneNumber("A phone number is required, in E.164 form.",
                                     field=self.field_name)
        return super().run_validation(data)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise InvalidPhoneNumber("A phone number must be a string in E.164 form.",
                                     field=self.field_name)
        return normalize_e164(data, self.default_region, field=self.field_name)
