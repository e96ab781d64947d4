"""Validity periods: a message still not sent when its `expires_at` passes ends `failed` with the
error code `expired`, rather than reaching someone hours after it stopped mattering."""

from .lifecycle import messages_expire_unsent

EXPIRED = "expired"


def expire_unsent_messages(*, batch: int = 1000) -> int:
    """Fail a batch of messages whose validity ran out before a worker sent them."""
    return len(
        messages_expire_unsent(code=EXPIRED, reason="Not sent within its validity period.", limit=batch)
    )
