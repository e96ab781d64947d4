"""The one check of a send's input, for the integrator API (single and batch), the UI send and the
preview: `send_fields(data)` answers the validated fields or raises the API's error.

The rules are the input serializer's (`SendInputSerializer`, which also describes the body in the
OpenAPI schema). Most sends have one shape, `{"to", "body"}` with perhaps a `from`, NANP numbers in
E.164 and a plain body; for that shape the answer is computed directly, which is what the
serializer would answer (messaging/tests/test_send_input.py compares the two on many inputs),
without the cost of DRF's field machinery. Anything else goes through the serializer itself, so
every error is the serializer's, to the letter.
"""

import functools
import re
from typing import Any

from numbers.phone import InvalidPhoneNumber, normalize_e164

from .segments import MAX_BODY_CHARACTERS
from .serializers import SendInputSerializer

_COMMON_KEYS = frozenset({"to", "body", "from"})
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")
# What the serializer's string fields refuse in a body: NUL and lone surrogates.
_REFUSED_TEXT = re.compile("[\x00\ud800-\udfff]")


@functools.cache
def _serializer() -> SendInputSerializer:
    # Shared: building a DRF serializer deep-copies its fields, which costs more than validating,
    # and run_validation keeps no state on the instance.
    return SendInputSerializer()


def _number(value) -> str | None:
    if type(value) is not str or not _NANP_E164.fullmatch(value):
        return None
    try:
        return normalize_e164(value)
    except InvalidPhoneNumber:
        return None


def _common_shape(data) -> dict | None:
    """The validated fields of a send of the common shape, or None for any other input."""
    if type(data) is not dict or not data.keys() <= _COMMON_KEYS:
        return None
    to = _number(data.get("to"))
    body = data.get("body")
    if (
        to is None
        or type(body) is not str
        or not body
        or len(body) > MAX_BODY_CHARACTERS
        or _REFUSED_TEXT.search(body)
    ):
        return None
    fields: dict[str, Any] = {"to": to, "body": body}
    if "from" in data:
        sender = data["from"]
        if sender is not None:
            sender = _number(sender)
            if sender is None:
                return None
        fields["from"] = sender
    fields["media_urls"] = []
    return fields


def send_fields(data) -> dict:
    """The validated fields of one send: `to`, `body`, `media_urls`, and those of `from`,
    `status_callback`, `scheduled_at`, `validity_period` that were given. Raises the serializer's
    ValidationError, or a DomainError (`invalid_phone_number`)."""
    fields = _common_shape(data)
    if fields is None:
        fields = dict(_serializer().run_validation(data))
    return fields
