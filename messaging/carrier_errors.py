"""What a message's `error_code` means, in words, and what to do about it, for the pages (the
thread, the message page, the live updates' map). The meanings themselves belong to the carrier
adapters' tables (`error_codes` in numbers/providers/*) and the platform's own
(`numbers.providers.PLATFORM_ERROR_CODES`), which the dashboard and docs/carriers.md read too.
A code missing there is shown as it came, with the carrier's own message.
"""

from dataclasses import dataclass

from numbers.providers import explain_error as carrier_explain_error
from numbers.providers import known_error_codes


@dataclass(frozen=True)
class ErrorExplanation:
    code: str
    meaning: str
    action: str


def explain_error(code: str | None, provider: str = "") -> ErrorExplanation | None:
    """The meaning of `code` (from `provider`'s table when known, else any adapter's) and what
    to do, or None for no code or one no table explains."""
    if not code:
        return None
    found = (carrier_explain_error(provider, code) if provider else None) or known_error_codes().get(code)
    if found is None:
        return None
    meaning, action = found
    return ErrorExplanation(code=code, meaning=meaning, action=action)


def known_errors() -> list[ErrorExplanation]:
    return [
        ErrorExplanation(code, meaning, action) for code, (meaning, action) in known_error_codes().items()
    ]
