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
    "smpp": "numbers.providers.smpp.provider.SmppProvider",
}
# Carriers whose messages a process holding binds sends (numbers.providers.smpp.binds), not the
# workers' send task.
BIND_PROVIDERS = ("smpp",)


def get_provider(account: ProviderAccount) -> Provider:
    module_name, class_name = ADAPTERS[account.provider].rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)(account)
