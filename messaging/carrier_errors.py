"""What a message's `error_code` means, in words, and what to do about it: the one table of
meanings, used by the pages (the thread, the message page) and listed in docs/ui.md.

Codes are the carriers' own (Twilio's numbering, which the other adapters map onto where they
can) and the platform's (`expired`, `smpp_*`). A code missing here is shown as it came, with the
carrier's own message.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorExplanation:
    code: str
    meaning: str
    action: str


_TABLE: dict[str, tuple[str, str]] = {
    # Refused when sending (the carrier's API answered with an error).
    "21211": ("The number is not a valid phone number for the carrier.",
              "Check the number: it needs the country code (+1…) and the right number of digits."),
    "21408": ("Your carrier account may not send to this country or region.",
              "Enable the destination's region in your carrier account's geographic permissions."),
    "21603": ("The message had no sender the carrier accepts.",
              "Add a phone number to the workspace, or pick a sender the carrier account owns."),
    "21610": ("The recipient unsubscribed from your number at the carrier (they texted STOP).",
              "Do not send again unless they text START; the carrier will keep refusing."),
    "21614": ("The number is not a mobile number, so it cannot receive SMS.",
              "Ask the contact for a mobile number."),
    "20503": ("The carrier was unavailable.",
              "Nothing to do: sends are retried automatically; retry by hand if it finally failed."),
    # Reported afterwards in status callbacks.
    "30001": ("The carrier's queue was full and the message waited too long.",
              "Send more slowly (lower the sender's rate), then retry."),
    "30002": ("The carrier account is suspended.",
              "Contact your carrier to reinstate the account; messages fail until then."),
    "30003": ("The handset was unreachable: switched off, out of coverage or roaming.",
              "Retry later; if it keeps failing, confirm the number with the contact."),
    "30004": ("The recipient or their carrier blocked the message.",
              "Ask the contact to allow messages from your number; do not retry in a loop."),
    "30005": ("The number is unknown to the carrier: it may no longer exist.",
              "Confirm the number with the contact, and remove it if it is gone."),
    "30006": ("The number is a landline or its carrier cannot receive SMS.",
              "Ask the contact for a mobile number."),
    "30007": ("The carrier filtered the message as spam or for its content.",
              "Register your number or campaign (10DLC, toll-free verification) and avoid "
              "shortened links; then retry."),
    "30008": ("The carrier reported an unknown error.",
              "Retry; if it fails again, contact your carrier with the carrier ID of the message."),
    "30034": ("The number is not registered for business texting (US 10DLC).",
              "Register the number with a 10DLC campaign at your carrier, then retry."),
    # The platform's own.
    "expired": ("The message was not sent within its validity period.",
                "Send it again if it still matters now."),
    "smpp_bind_lost": ("The connection to the SMSC dropped while the message was in flight.",
                       "Check the SMPP account's connection on the Carrier page, then retry."),
    "smpp_error": ("The SMSC refused the message.",
                   "Check the SMSC's error in the message's events; then retry or contact the SMSC."),
}


def explain_error(code: str | None) -> ErrorExplanation | None:
    """The meaning of `code` and what to do, or None for no code or one not in the table."""
    if not code or code not in _TABLE:
        return None
    meaning, action = _TABLE[code]
    return ErrorExplanation(code=code, meaning=meaning, action=action)


def known_errors() -> list[ErrorExplanation]:
    return [ErrorExplanation(code, meaning, action) for code, (meaning, action) in _TABLE.items()]
