"""Carrier adapters, chosen by the account's provider name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from .base import Provider

if TYPE_CHECKING:
    from collections.abc import Callable

    from numbers.models import ProviderAccount

ADAPTERS = {
    "simulator": "numbers.providers.simulator.SimulatorProvider",
    "twilio": "numbers.providers.twilio.TwilioProvider",
    "telnyx": "numbers.providers.telnyx.TelnyxProvider",
    "smpp": "numbers.providers.smpp.provider.SmppProvider",
}


def adapter_class(provider: str) -> type[Provider]:
    """The adapter class of a provider name (its parse functions need no account). KeyError when
    the name is not a carrier the platform knows."""
    module_name, class_name = ADAPTERS[provider].rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)


def get_provider(account: ProviderAccount) -> Provider:
    # Provider (a Protocol) leaves the constructor out: every adapter takes its account.
    adapter = cast("Callable[[ProviderAccount], Provider]", adapter_class(account.provider))
    return adapter(account)


# Codes the platform itself ends a message with, whatever its carrier.
PLATFORM_ERROR_CODES = {
    "expired": (
        "The message was not sent within its validity period.",
        "Send it again, or give a longer validity_period.",
    ),
    "carrier_unavailable": (
        "The carrier could not be reached after every retry.",
        "Check the carrier's status and the account's credentials; retry the message.",
    ),
    "carrier_rejected": (
        "The carrier refused the message without a code.",
        "Read the message's error; check the sender and the number.",
    ),
    "provider_not_configured": (
        "The workspace has no carrier account for this message.",
        "Set up a carrier account under Numbers.",
    ),
}


def explain_error(provider: str, code: str) -> tuple[str, str] | None:
    """(what a message's error code means, what to do about it), from the carrier adapter's table
    (an SMPP receipt's `UNDELIV:001` by its state), then the platform's; None when unknown."""
    try:
        table = getattr(adapter_class(provider), "error_codes", {}) if provider else {}
    except KeyError:
        table = {}
    return table.get(code) or table.get(code.split(":", 1)[0]) or PLATFORM_ERROR_CODES.get(code)


def known_error_codes() -> dict[str, tuple[str, str]]:
    """Every code any adapter or the platform explains, for pages that show a code without its
    carrier: the platform's, then each adapter's (the first meaning wins), Twilio's first since the
    others' codes follow its numbering where they can, the simulator's last."""
    known = dict(PLATFORM_ERROR_CODES)
    for provider in sorted(ADAPTERS, key=lambda name: (name != "twilio", name == "simulator")):
        for code, meaning in getattr(adapter_class(provider), "error_codes", {}).items():
            known.setdefault(code, meaning)
    return known
