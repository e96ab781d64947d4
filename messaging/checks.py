"""System checks of the delivery settings."""

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_send_lease(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The sweep takes a `sending` message whose lease ran out for one a dead worker left behind.
    A live worker may hold it for up to one carrier HTTP timeout (plus a short pacing sleep), so
    the lease must be comfortably longer, or a slow carrier answer would be looked up and resent."""
    timeout = float(settings.TWILIO_HTTP_TIMEOUT) + float(settings.SEND_PACING_SLEEP_MAX_SECONDS)
    if 2 * timeout > settings.SEND_LEASE_SECONDS:
        return [
            Warning(
                f"SEND_LEASE_SECONDS ({settings.SEND_LEASE_SECONDS}) is less than twice the carrier "
                f"HTTP timeout TWILIO_HTTP_TIMEOUT ({settings.TWILIO_HTTP_TIMEOUT:g}s) plus pacing.",
                hint="Raise SEND_LEASE_SECONDS or lower TWILIO_HTTP_TIMEOUT.",
                id="messaging.W001",
            )
        ]
    return []
