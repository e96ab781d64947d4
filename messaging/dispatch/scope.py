"""Which messages a runner claims: the scope of Celery's rounds and of a bind process's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from ..models import Message


@dataclass(frozen=True)
class Scope:
    """Which messages a runner claims: those of carrier accounts of `providers` (None: any),
    except those of `exclude_providers`, and only of the accounts `account_ids` (None: any)."""

    providers: frozenset[str] | None = None
    exclude_providers: frozenset[str] = frozenset()
    account_ids: frozenset[int] | None = None


def celery_scope() -> Scope:
    """What Celery's rounds claim: everything but the providers served by processes of their own."""
    return Scope(exclude_providers=frozenset(settings.DISPATCH_OWN_PROCESS_PROVIDERS))


def _scoped(queryset: QuerySet[Message], scope: Scope) -> QuerySet[Message]:
    if scope.account_ids is not None:  # of these accounts' workspaces: close enough for a wait
        queryset = queryset.filter(workspace__carrier_accounts__id__in=scope.account_ids)
    if scope.providers is not None:
        queryset = queryset.filter(workspace__carrier_accounts__provider__in=scope.providers)
    if scope.exclude_providers:
        queryset = queryset.exclude(workspace__carrier_accounts__provider__in=scope.exclude_providers)
    return queryset
