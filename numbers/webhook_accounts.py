"""The carrier account a webhook is verified with, kept in the shared cache so that verification
(which needs the account's signing secret) still works while PostgreSQL is away.

PostgreSQL is always asked first, so a rotated token or a disabled workspace takes effect at once
however it was changed; the cache is only read when PostgreSQL cannot answer. It holds the
account's fields with its secrets still encrypted (Fernet, as at rest), one entry per workspace,
and is written only when what PostgreSQL answered differs from what this process wrote last.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from messaging_platform.crypto import EncryptedTextField, decrypt, encrypt

from .models import ProviderAccount

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30 * 86400
_SKIPPED_FIELDS = {"created_at", "updated_at"}
_MEMO_LIMIT = 10_000
# What this process last wrote per workspace, with the plaintext secrets: compared, never written.
_written: dict[str, dict[str, Any]] = {}


class AccountUnavailable(Exception):
    """Neither the cache nor PostgreSQL could say which account a webhook belongs to."""


def _key(workspace_id: str) -> str:
    return f"carrier-webhook-accounts:{workspace_id}"


def _fields(account: ProviderAccount) -> dict[str, Any]:
    return {
        f.attname: getattr(account, f.attname)
        for f in ProviderAccount._meta.concrete_fields
        if f.name not in _SKIPPED_FIELDS
    }


def _encrypted(values: dict[str, Any]) -> dict[str, Any]:
    stored = dict(values)
    for model_field in ProviderAccount._meta.concrete_fields:
        if isinstance(model_field, EncryptedTextField) and stored.get(model_field.attname):
            stored[model_field.attname] = encrypt(stored[model_field.attname])
    return stored


def _account(values: dict[str, Any]) -> ProviderAccount:
    decoded = dict(values)
    for model_field in ProviderAccount._meta.concrete_fields:
        if isinstance(model_field, EncryptedTextField) and decoded.get(model_field.attname):
            decoded[model_field.attname] = decrypt(decoded[model_field.attname])
    return ProviderAccount(**decoded)


def _remember(workspace_id: str, accounts: list[ProviderAccount]) -> None:
    entry = {account.uid: _fields(account) for account in accounts}
    if _written.get(workspace_id) == entry:
        return
    try:
        if entry:
            cache.set(_key(workspace_id), {uid: _encrypted(v) for uid, v in entry.items()}, CACHE_SECONDS)
        else:
            cache.delete(_key(workspace_id))
    except Exception:  # a cache outage must not refuse a webhook PostgreSQL could take
        logger.warning("Carrier account cache not written for %s", workspace_id)
        return
    if len(_written) >= _MEMO_LIMIT:
        _written.clear()
    _written[workspace_id] = entry


def _from_cache(workspace_id: str) -> dict[str, Any] | None:
    try:
        return cache.get(_key(workspace_id))
    except Exception:
        logger.warning("Carrier account cache unreadable for %s", workspace_id)
        return None


def _choose(accounts: list[ProviderAccount], provider: str, account_id: str) -> ProviderAccount | None:
    """The account a webhook names (`?account=ca_…`, on the URLs of a workspace's second account
    of a carrier), else the carrier's primary-most account (the URLs without it: the primary or
    only account of that carrier)."""
    of_provider = [a for a in accounts if a.provider == provider]
    if account_id:
        return next((a for a in of_provider if a.uid == account_id), None)
    of_provider.sort(key=lambda a: (not a.is_primary, a.pk or 0))
    return of_provider[0] if of_provider else None


def webhook_account(
    *, workspace_id: str, provider: str, account_id: str = "", from_cache: bool = True
) -> ProviderAccount | None:
    """The active workspace's account of this carrier that the webhook is for (see _choose);
    None when it has none.

    Raises AccountUnavailable when PostgreSQL is out of reach and the cache knows nothing of it;
    with `from_cache=False`, PostgreSQL's error itself (the cache is not read).
    """
    try:
        accounts = list(ProviderAccount.objects.filter(workspace_id=workspace_id, workspace__is_active=True))
    except (OperationalError, InterfaceError):
        if not from_cache:
            raise
        entry = _from_cache(workspace_id)
        if entry is None:
            raise AccountUnavailable(f"No cached carrier account for {workspace_id}.") from None
        return _choose(
            [_account(values) for values in entry.values() if isinstance(values, dict) and "uid" in values],
            provider,
            account_id,
        )
    _remember(workspace_id, accounts)
    return _choose(accounts, provider, account_id)
