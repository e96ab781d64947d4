"""Which carrier account (and sender) a message goes through: the selectors the send path and
the delivery engine call. Scoped by workspace."""

from __future__ import annotations

from dataclasses import dataclass

from workspaces.models import Workspace

from .models import CarrierAccountStatus, CarrierRoute, PhoneNumber, ProviderAccount


@dataclass(frozen=True)
class Route:
    account: ProviderAccount
    sender: PhoneNumber | None  # None: the account's default number (or its messaging service)
    fallback: ProviderAccount | None = None
    rule_id: str = ""  # the CarrierRoute that chose it; "" for the primary account


def primary_account(*, workspace: Workspace) -> ProviderAccount | None:
    return ProviderAccount.objects.filter(workspace=workspace, is_primary=True).first()


def _sender_of(account: ProviderAccount) -> PhoneNumber | None:
    numbers = PhoneNumber.objects.filter(workspace_id=account.workspace_id, sms_enabled=True)
    if account.is_primary:
        numbers = numbers.filter(account__isnull=True) | numbers.filter(account=account)
    else:
        numbers = numbers.filter(account=account)
    return numbers.order_by("-is_default", "created_at", "id").first()


def route_for(*, workspace: Workspace, to: str) -> Route | None:
    """The route of a message to `to` sent without `from`: the first rule (by position, then the
    longest prefix) whose prefix `to` starts with and whose account is active; else the primary
    account with no sender chosen. None when the workspace has no carrier account."""
    rules = (CarrierRoute.objects.for_workspace(workspace)
             .select_related("account", "sender", "fallback_account"))
    matching = [r for r in rules if to.startswith(r.prefix)
                and r.account.status == CarrierAccountStatus.ACTIVE]
    if matching:
        rule = min(matching, key=lambda r: (r.position, -len(r.prefix)))
        fallback = rule.fallback_account
        if fallback is not None and fallback.status != CarrierAccountStatus.ACTIVE:
            fallback = None
        return Route(account=rule.account, sender=rule.sender or _sender_of(rule.account),
                     fallback=fallback, rule_id=rule.id)
    account = primary_account(workspace=workspace)
    return Route(account=account, sender=None) if account is not None else None


def account_for_sender(*, workspace: Workspace, from_number: str) -> ProviderAccount | None:
    """The account a sender number belongs to (the primary one when the number names none)."""
    number = (PhoneNumber.objects.filter(workspace=workspace, phone_number=from_number)
              .select_related("account").first()) if from_number else None
    if number is not None and number.account is not None:
        return number.account
    return primary_account(workspace=workspace)


def account_for_message(message) -> ProviderAccount | None:
    """The account an outbound message goes through: its sender's account, else the primary."""
    return account_for_sender(workspace=message.workspace, from_number=message.from_number)
