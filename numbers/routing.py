"""Which carrier account (and sender) a message goes through: the selectors the send path and
the delivery engine call. Scoped by workspace."""

from __future__ import annotations

from collections.abc import Iterable
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
    numbers = PhoneNumber.objects.filter(workspace_id=account.workspace_id)
    return account_sender(account, numbers.order_by("created_at", "id"))


def account_sender(
    account: ProviderAccount, numbers: Iterable[PhoneNumber], *, is_mms: bool = False
) -> PhoneNumber | None:
    """The number a message goes out from when a route (or a failover) chose `account` and no
    sender: the account's default number, else its first that can send it (`numbers` in their
    order). A number of no account is the primary account's."""
    fitting = [
        n
        for n in numbers
        if (n.account_id == account.pk or (n.account_id is None and account.is_primary))
        and n.sms_enabled
        and (n.mms_enabled or not is_mms)
    ]
    return next((n for n in fitting if n.is_default), fitting[0] if fitting else None)


def matching_rule(rules: Iterable[CarrierRoute], to: str) -> CarrierRoute | None:
    """The rule a message to `to` sent without `from` follows: the first (by position, then the
    longest prefix) whose prefix `to` starts with and whose account is active. `rules` come with
    their accounts loaded (numbers.selectors.workspace_routes)."""
    matching = [
        r for r in rules if to.startswith(r.prefix) and r.account.status == CarrierAccountStatus.ACTIVE
    ]
    return min(matching, key=lambda r: (r.position, -len(r.prefix))) if matching else None


def active_fallback(rule: CarrierRoute) -> ProviderAccount | None:
    fallback = rule.fallback_account
    if fallback is None or fallback.status != CarrierAccountStatus.ACTIVE:
        return None
    return fallback


def route_for(*, workspace: Workspace, to: str) -> Route | None:
    """The route of a message to `to` sent without `from`: the matching rule's account and sender
    (else that account's own sender), with its fallback; else the primary account with no sender
    chosen. None when the workspace has no carrier account."""
    rules = CarrierRoute.objects.for_workspace(workspace).select_related(
        "account", "sender", "fallback_account"
    )
    rule = matching_rule(rules, to)
    if rule is not None:
        return Route(
            account=rule.account,
            sender=rule.sender or _sender_of(rule.account),
            fallback=active_fallback(rule),
            rule_id=rule.id,
        )
    account = primary_account(workspace=workspace)
    return Route(account=account, sender=None) if account is not None else None


def account_for_sender(*, workspace: Workspace, from_number: str) -> ProviderAccount | None:
    """The account a sender number belongs to (the primary one when the number names none)."""
    number = (
        (
            PhoneNumber.objects.filter(workspace=workspace, phone_number=from_number)
            .select_related("account")
            .first()
        )
        if from_number
        else None
    )
    if number is not None and number.account is not None:
        return number.account
    return primary_account(workspace=workspace)


def account_for_message(message) -> ProviderAccount | None:
    """The account an outbound message goes through: the one it was routed to, else its sender's
    account, else the primary."""
    if message.carrier_account_id:
        account = ProviderAccount.objects.filter(pk=message.carrier_account_id).first()
        if account is not None:
            return account
    return account_for_sender(workspace=message.workspace, from_number=message.from_number)


def failover_targets(account_ids: Iterable[int]) -> dict[int, tuple[ProviderAccount, str, str]]:
    """For each fallback account that can take a message over: (account, from_number,
    messaging_service_sid) of its sender. An account gone, disabled or without a sender is left
    out (the message then takes its refusal's ordinary course)."""
    accounts = ProviderAccount.objects.filter(pk__in=set(account_ids), status=CarrierAccountStatus.ACTIVE)
    targets = {}
    for account in accounts:
        sender = failover_sender(account)
        if sender is not None:
            targets[account.pk] = (account, *sender)
    return targets


def failover_sender(account: ProviderAccount) -> tuple[str, str] | None:
    """(from_number, messaging_service_sid) a message failing over to `account` is sent from: the
    account's own sender, else its Messaging Service; None when it has neither."""
    number = _sender_of(account)
    if number is not None:
        return number.phone_number, ""
    if account.messaging_service_sid:
        return "", account.messaging_service_sid
    return None
