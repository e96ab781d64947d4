"""Carrier adapters, chosen by the account's provider name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import Provider

if TYPE_CHECKING:
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
    return adapter_class(account.provider)(account)
