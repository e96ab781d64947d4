"""Reads of carrier accounts and numbers, shared with the messaging app. Scoped by workspace."""

from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet

from messaging_platform.errors import DomainError, not_found
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .models import CarrierRoute, PhoneNumber, ProviderAccount, ProviderKind
from .providers import adapter_class


def workspace_provider_account(*, workspace: Workspace) -> ProviderAccount | None:
    """The workspace's primary carrier account, or None when it has not set one up."""
    return ProviderAccount.objects.for_workspace(workspace).order_by("-is_primary", "pk").first()


def require_provider_account(*, workspace: Workspace) -> ProviderAccount:
    """The workspace's carrier account, or a 400 `provider_not_configured`."""
    account = workspace_provider_account(workspace=workspace)
    if account is None:
        raise DomainError(
            "provider_not_configured",
            "This workspace has no carrier account; set one up under its provider settings first.",
        )
    return account


def workspace_carrier_accounts(*, workspace: Workspace) -> QuerySet[ProviderAccount]:
    return ProviderAccount.objects.for_workspace(workspace)


def access_carrier_account(*, workspace: Workspace, account_id: str) -> ProviderAccount:
    """One of the workspace's carrier accounts by its `ca_…` id; another's is a 404."""
    found = ProviderAccount.objects.for_workspace(workspace).filter(uid=account_id).first()
    if found is None:
        raise not_found("Carrier account not found.")
    return found


def workspace_routes(*, workspace: Workspace) -> QuerySet[CarrierRoute]:
    return CarrierRoute.objects.for_workspace(workspace).select_related(
        "account", "sender", "fallback_account"
    )


def access_route(*, workspace: Workspace, route_id: str) -> CarrierRoute:
    return in_workspace(
        workspace_routes(workspace=workspace), workspace=workspace, pk=route_id, missing="Route not found."
    )


def workspace_numbers(*, workspace: Workspace) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.for_workspace(workspace).order_by("created_at", "id")


def access_number(*, workspace: Workspace, number_id: str) -> PhoneNumber:
    """One of the workspace's numbers; another workspace's number is a 404 like a missing one."""
    return in_workspace(
        PhoneNumber.objects, workspace=workspace, pk=number_id, missing="Phone number not found."
    )


def workspace_number_by_e164(*, workspace: Workspace, phone_number: str) -> PhoneNumber | None:
    """The workspace's number with this E.164 string (for checking a message's `from`)."""
    return PhoneNumber.objects.for_workspace(workspace).filter(phone_number=phone_number).first()


def default_sender(*, workspace: Workspace) -> PhoneNumber | None:
    """The workspace's default number; None when it has no numbers.

    The services keep exactly one default whenever a workspace has numbers.
    """
    return PhoneNumber.objects.for_workspace(workspace).filter(is_default=True).first()


def number_owner(*, phone_number: str) -> PhoneNumber | None:
    """The number, with its workspace, installation-wide: routes an inbound message by its `To`.

    Not scoped on purpose: the carrier webhook must still check that the number belongs to the
    workspace named in its URL.
    """
    return PhoneNumber.objects.select_related("workspace").filter(phone_number=phone_number).first()


def webhook_urls(*, workspace: Workspace, account: ProviderAccount | None = None) -> tuple[str, ...]:
    """The (inbound, status) webhook URLs of the workspace's carrier account (its primary one
    unless given), as its adapter routes them."""
    if account is None:
        account = workspace_provider_account(workspace=workspace)
    provider = account.provider if account is not None else ProviderKind.SIMULATOR
    urls = adapter_class(provider).webhook_urls(settings.PUBLIC_BASE_URL, workspace.pk)
    if account is not None and not account.is_primary and account.pk:
        # A second account of a carrier: its URLs name it (the primary's stay as they were).
        return tuple(with_query(url, account=account.uid) for url in urls)
    return urls


def with_query(url: str, **params: str) -> str:
    """`url` with these query parameters added (after any it has)."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def inbound_webhook_url(*, workspace: Workspace, account: ProviderAccount | None = None) -> str:
    return webhook_urls(workspace=workspace, account=account)[0]


def status_webhook_url(*, workspace: Workspace, account: ProviderAccount | None = None) -> str:
    """The status-callback URL to hand the carrier for this workspace's messages."""
    if account is None:
        # Loaded with the workspace where the caller used select_related("workspace__provider_account").
        account = getattr(workspace, "provider_account", None)
    return webhook_urls(workspace=workspace, account=account)[1]
