"""A workspace's carrier account and phone numbers: every write goes through here.

Carrier calls come before database writes, so a refused or failed call leaves nothing saved.
"""

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import IntegrityError, transaction

from messaging_platform.errors import DomainError
from workspaces.audit.services import audit_record
from workspaces.models import Workspace

from . import selectors
from .models import CarrierRoute, PhoneNumber, ProviderAccount, ProviderKind
from .phone import InvalidPhoneNumber, is_sender_id, normalize_e164
from .providers import adapter_class, get_provider
from .providers.base import AccountInfo, Capability, NumberInfo, ProviderAuthError, ProviderError

logger = logging.getLogger(__name__)

TRANSIENT_RETRY_AFTER = 30
_PLAUSIBLE_E164 = re.compile(r"\+[1-9][0-9]{5,14}")


@dataclass
class ImportResult:
    added: list[PhoneNumber] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"phone_number", "reason"}


def carrier_error(exc: ProviderError, *, secret: str = "") -> DomainError:
    """The domain error for a carrier's refusal or failure, without ever echoing the secret."""
    message = exc.message or "The carrier refused the request."
    if secret:
        message = message.replace(secret, "[redacted]")
    if isinstance(exc, ProviderAuthError):
        return DomainError("invalid_credentials", message)
    if not exc.permanent:
        retry_after = max(1, math.ceil(exc.retry_after)) if exc.retry_after else TRANSIENT_RETRY_AFTER
        return DomainError(
            "provider_unavailable",
            f"The carrier did not answer properly; try again shortly. ({message})",
            retry_after=retry_after,
        )
    code = f" (carrier error {exc.code})" if exc.code else ""
    return DomainError("provider_error", f"The carrier refused the request{code}: {message}")


def _log_carrier_failure(action: str, account: ProviderAccount, exc: ProviderError) -> None:
    # Only identifiers and the carrier's code: never the credentials.
    logger.warning(
        "Carrier %s failed for workspace %s (%s %s): code=%s status=%s permanent=%s",
        action,
        account.workspace_id,
        account.provider,
        account.account_sid or "-",
        exc.code,
        exc.status,
        exc.permanent,
    )


# Carrier account ----------------------------------------------------------------------------


SMPP_SETTINGS = (
    "host",
    "port",
    "system_id",
    "system_type",
    "tls",
    "throughput",
    "uncertain_submits",
    "senders",
)


@transaction.atomic
def provider_account_set(
    *,
    workspace: Workspace,
    provider: str,
    account_sid: str = "",
    auth_token: str | None = None,
    messaging_service_sid: str = "",
    settings: dict[str, Any] | None = None,
    password: str | None = None,
    **smpp_settings: Any,
) -> ProviderAccount:
    """Create or replace the workspace's primary carrier account.

    Credentials are checked with the carrier first (SMPP: by binding and unbinding); a refusal or
    an outage saves nothing. An omitted `auth_token` (Twilio's Auth Token, Telnyx's API key, SMPP's
    `password`) keeps the stored one, but only for the same carrier account (Twilio: the same
    Account SID; SMPP: the same SMSC host and system_id).
    """
    account = ProviderAccount.objects.select_for_update().for_workspace(workspace).filter(
        is_primary=True
    ).first() or ProviderAccount(workspace=workspace)
    if provider == ProviderKind.SIMULATOR:
        # Switching to the simulator drops the carrier's credentials: no secret kept without use.
        account.provider, account.account_sid = ProviderKind.SIMULATOR, ""
        account.auth_token, account.messaging_service_sid = "", ""
        account.settings = {}
        account.save()
        audit_record(workspace, "carrier_account.set", account, provider=provider)
        return account
    if provider == ProviderKind.SMPP:
        return _smpp_account_set(account, password=password, values=smpp_settings)

    settings = settings or {}
    if not auth_token:
        same_account = account.provider == provider and account.account_sid == account_sid
        if not (same_account and account.auth_token):
            secret = "api_key" if provider == ProviderKind.TELNYX else "auth_token"
            raise DomainError(
                "missing_params",
                f"Missing required parameter(s): {secret}.",
                fields={secret: ["Required for a new carrier account."]},
            )
        auth_token = account.auth_token
    candidate = ProviderAccount(
        workspace=workspace,
        provider=provider,
        account_sid=account_sid,
        auth_token=auth_token,
        messaging_service_sid=messaging_service_sid,
        settings=settings,
    )
    try:
        get_provider(candidate).check_credentials()
    except ProviderError as exc:
        _log_carrier_failure("credential check", candidate, exc)
        raise carrier_error(exc, secret=auth_token) from None
    token_changed = auth_token != account.auth_token
    account.provider, account.account_sid = provider, account_sid
    account.auth_token, account.messaging_service_sid = auth_token, messaging_service_sid
    account.settings = settings
    account.save()
    audit_record(
        workspace,
        "carrier_account.set",
        account,
        provider=provider,
        account_sid=account_sid,
        messaging_service_sid=messaging_service_sid,
        auth_token=token_changed,
    )
    logger.info("Carrier account of workspace %s set to %s %s", workspace.pk, provider, account_sid)
    return account


def _check_with_carrier(candidate: ProviderAccount) -> None:
    if candidate.provider == ProviderKind.SIMULATOR:
        return
    try:
        get_provider(candidate).check_credentials()
    except ProviderError as exc:
        _log_carrier_failure("credential check", candidate, exc)
        raise carrier_error(exc, secret=candidate.auth_token) from None


@transaction.atomic
def carrier_account_add(
    *,
    workspace: Workspace,
    provider: str,
    name: str = "",
    account_sid: str = "",
    auth_token: str | None = None,
    messaging_service_sid: str = "",
    settings: dict[str, Any] | None = None,
    password: str | None = None,
    **smpp_settings: Any,
) -> ProviderAccount:
    """Add a carrier account (checked with the carrier first). The workspace's first account
    becomes its primary one."""
    _lock_workspace(workspace)
    if provider == ProviderKind.SMPP:
        auth_token, settings = password, _smpp_settings(smpp_settings)
        if not auth_token:
            raise DomainError(
                "missing_params",
                "Missing required parameter(s): password.",
                fields={"password": ["Required for a new carrier account."]},
            )
    if provider != ProviderKind.SIMULATOR and not auth_token:
        secret = "api_key" if provider == ProviderKind.TELNYX else "auth_token"
        raise DomainError(
            "missing_params",
            f"Missing required parameter(s): {secret}.",
            fields={secret: ["Required for a new carrier account."]},
        )
    account = ProviderAccount(
        workspace=workspace,
        provider=provider,
        name=name,
        account_sid=account_sid,
        auth_token=auth_token or "",
        messaging_service_sid=messaging_service_sid,
        settings=settings or {},
        is_primary=not ProviderAccount.objects.for_workspace(workspace).exists(),
    )
    _check_with_carrier(account)
    account.save()
    audit_record(
        workspace,
        "carrier_account.added",
        account,
        provider=provider,
        name=name,
        is_primary=account.is_primary,
        **_audited_settings(account),
        auth_token=bool(account.auth_token),
    )
    logger.info("Carrier account %s (%s) added to workspace %s", account.uid, provider, workspace.pk)
    return account


def _audited_settings(account: ProviderAccount) -> dict[str, Any]:
    # The account's non-secret settings as the audit log records them.
    values = {
        key: value
        for key, value in (account.settings or {}).items()
        if key in ("host", "port", "system_id", "system_type", "tls", "throughput", "messaging_profile_id")
    }
    if account.account_sid:
        values["account_sid"] = account.account_sid
    if account.messaging_service_sid:
        values["messaging_service_sid"] = account.messaging_service_sid
    return values


@transaction.atomic
def carrier_account_update(
    *,
    account: ProviderAccount,
    name: str | None = None,
    status: str | None = None,
    is_primary: bool | None = None,
    account_sid: str | None = None,
    auth_token: str | None = None,
    messaging_service_sid: str | None = None,
    settings: dict[str, Any] | None = None,
    password: str | None = None,
    **smpp_settings: Any,
) -> ProviderAccount:
    """Rename, disable or enable an account, make it the primary one, or change its credentials
    (checked with the carrier first; an omitted secret keeps the stored one, but only for the same
    Twilio Account SID or the same SMSC host and system_id: a kept secret never goes elsewhere).
    An SMPP account's settings come as `put …/provider` takes them (host, port, system_id, …)."""
    _lock_workspace(account.workspace)
    if account.provider == ProviderKind.SMPP and smpp_settings:
        settings = {
            **{key: value for key, value in (account.settings or {}).items() if key not in SMPP_SETTINGS},
            **_smpp_settings(smpp_settings),
        }
        auth_token = password or None
    _refuse_kept_secret_elsewhere(account, auth_token=auth_token, account_sid=account_sid, settings=settings)
    before = {
        "name": account.name,
        "status": account.status,
        "is_primary": account.is_primary,
        **_audited_settings(account),
    }
    if name is not None:
        account.name = name
    if status is not None:
        if status != "active" and (account.is_primary and is_primary is not False):
            raise DomainError(
                "invalid_params",
                "The primary account cannot be disabled.",
                fields={"status": ["Make another account the primary one first."]},
            )
        account.status = status
    credentials_changed = False
    for field_name, value in (
        ("account_sid", account_sid),
        ("auth_token", auth_token),
        ("messaging_service_sid", messaging_service_sid),
        ("settings", settings),
    ):
        given = value not in (None, "") or (field_name == "messaging_service_sid" and value == "")
        if given and getattr(account, field_name) != value:
            setattr(account, field_name, value)
            credentials_changed = True
    if credentials_changed:
        _check_with_carrier(account)
    if is_primary and not account.is_primary:
        if account.status != "active":
            raise DomainError(
                "invalid_params",
                "A disabled account cannot be the primary one.",
                fields={"is_primary": ["Enable it first."]},
            )
        ProviderAccount.objects.for_workspace(account.workspace).filter(is_primary=True).update(
            is_primary=False
        )
        account.is_primary = True
    account.save()
    after = {
        "name": account.name,
        "status": account.status,
        "is_primary": account.is_primary,
        **_audited_settings(account),
    }
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    if changes or credentials_changed:
        audit_record(
            account.workspace,
            "carrier_account.updated",
            account,
            **changes,
            auth_token=bool(auth_token) and credentials_changed,
        )
    return account


def _refuse_kept_secret_elsewhere(
    account: ProviderAccount,
    *,
    auth_token: str | None,
    account_sid: str | None,
    settings: dict[str, Any] | None,
) -> None:
    if auth_token or not account.auth_token:
        return
    if account.provider == ProviderKind.SMPP and settings is not None:
        previous = account.settings or {}
        if (settings.get("host"), settings.get("system_id")) != (
            previous.get("host"),
            previous.get("system_id"),
        ):
            raise DomainError(
                "missing_params",
                "Missing required parameter(s): password.",
                fields={"password": ["Required for a new SMSC or system_id."]},
            )
    if account_sid and account_sid != account.account_sid:
        raise DomainError(
            "missing_params",
            "Missing required parameter(s): auth_token.",
            fields={"auth_token": ["Required for a new Account SID."]},
        )


@transaction.atomic
def carrier_account_remove(*, account: ProviderAccount) -> None:
    """Remove a non-primary account; its numbers fall back to the primary account and the routes
    through it go with it."""
    if account.is_primary:
        raise DomainError(
            "invalid_params",
            "The primary account cannot be removed.",
            fields={"id": ["Make another account the primary one first."]},
        )
    audit_record(
        account.workspace, "carrier_account.removed", account, provider=account.provider, name=account.name
    )
    account.delete()


_PREFIX = re.compile(r"\+[0-9]{0,15}")


@transaction.atomic
def carrier_route_set(
    *,
    workspace: Workspace,
    route: CarrierRoute | None = None,
    prefix: str | None = None,
    position: int | None = None,
    account_id: str | None = None,
    sender_id: str | None = None,
    fallback_account_id: str | None = None,
    fields_given: frozenset[str] = frozenset(),
) -> CarrierRoute:
    """Create (route None) or change a routing rule; every id must be the workspace's own."""
    route = route or CarrierRoute(workspace=workspace)
    if prefix is not None:
        if not _PREFIX.fullmatch(prefix):
            raise DomainError(
                "invalid_params",
                "A prefix is + followed by up to 15 digits.",
                fields={"prefix": ["For example +44 or +1415."]},
            )
        route.prefix = prefix
    if position is not None:
        route.position = position
    if account_id is not None:
        route.account = selectors.access_carrier_account(workspace=workspace, account_id=account_id)
    if "sender_id" in fields_given:
        route.sender = (
            selectors.access_number(workspace=workspace, number_id=sender_id) if sender_id else None
        )
    if "fallback_account_id" in fields_given:
        route.fallback_account = (
            selectors.access_carrier_account(workspace=workspace, account_id=fallback_account_id)
            if fallback_account_id
            else None
        )
    if not route.prefix or route.account_id is None:
        raise DomainError("missing_params", "Missing required parameter(s): prefix, account_id.")
    if route.fallback_account_id is not None and route.fallback_account_id == route.account_id:
        raise DomainError(
            "invalid_params",
            "The fallback must be another account.",
            fields={"fallback_account_id": ["Choose a different account."]},
        )
    if route.sender is not None:
        owner = route.sender.account_id
        if not (owner == route.account_id or (owner is None and route.account.is_primary)):
            raise DomainError(
                "invalid_params",
                "The sender is not a number of the route's account.",
                fields={"sender_id": ["Choose a number of that account."]},
            )
    created = route._state.adding
    route.save()
    audit_record(
        workspace,
        "carrier_route.added" if created else "carrier_route.updated",
        route,
        prefix=route.prefix,
        position=route.position,
        account_id=route.account.uid,
        sender=route.sender.phone_number if route.sender else None,
        fallback_account_id=route.fallback_account.uid if route.fallback_account else None,
    )
    return route


@transaction.atomic
def carrier_route_remove(*, route: CarrierRoute) -> None:
    audit_record(route.workspace, "carrier_route.removed", route, prefix=route.prefix)
    route.delete()


def carrier_account_check(*, account: ProviderAccount) -> AccountInfo:
    """Fetch one account from its carrier with the stored credentials (changes nothing)."""
    try:
        return get_provider(account).check_credentials()
    except ProviderError as exc:
        _log_carrier_failure("credential check", account, exc)
        raise carrier_error(exc, secret=account.auth_token) from None


def _smpp_settings(values: dict[str, Any]) -> dict[str, Any]:
    settings = {key: values[key] for key in SMPP_SETTINGS if values.get(key) not in (None, "")}
    settings.setdefault("port", 2775)
    if "tls" in values:
        settings["tls"] = bool(values["tls"])
    return settings


def _smpp_account_set(
    account: ProviderAccount, *, password: str | None, values: dict[str, Any]
) -> ProviderAccount:
    settings = _smpp_settings(values)
    if password is None:
        previous = account.settings or {}
        same = (
            account.provider == ProviderKind.SMPP
            and previous.get("host") == settings["host"]
            and previous.get("system_id") == settings["system_id"]
        )
        if not (same and account.auth_token):
            raise DomainError(
                "missing_params",
                "Missing required parameter(s): password.",
                fields={"password": ["Required for a new SMSC or system_id."]},
            )
        password = account.auth_token
    candidate = ProviderAccount(
        workspace=account.workspace, provider=ProviderKind.SMPP, auth_token=password, settings=settings
    )
    try:
        get_provider(candidate).check_credentials()  # binds and unbinds
    except ProviderError as exc:
        _log_carrier_failure("bind check", candidate, exc)
        raise carrier_error(exc, secret=password) from None
    account.provider, account.account_sid, account.messaging_service_sid = ProviderKind.SMPP, "", ""
    token_changed = password != account.auth_token
    account.auth_token, account.settings = password, settings
    account.save()
    audit_record(
        account.workspace,
        "carrier_account.set",
        account,
        provider=ProviderKind.SMPP,
        host=settings["host"],
        system_id=settings["system_id"],
        auth_token=token_changed,
    )
    logger.info(
        "Carrier account of workspace %s set to SMPP %s:%s as %s",
        account.workspace_id,
        settings["host"],
        settings["port"],
        settings["system_id"],
    )
    return account


def provider_account_check(*, workspace: Workspace) -> AccountInfo:
    """Fetch the account from the carrier with the stored credentials (changes nothing)."""
    account = selectors.require_provider_account(workspace=workspace)
    try:
        return get_provider(account).check_credentials()
    except ProviderError as exc:
        _log_carrier_failure("credential check", account, exc)
        raise carrier_error(exc, secret=account.auth_token) from None


# Numbers ------------------------------------------------------------------------------------


def _carrier_numbers(account: ProviderAccount) -> tuple[dict[str, NumberInfo], list[str]]:
    """The carrier account's numbers by E.164, and those it lists that are not usable numbers."""
    try:
        listed = get_provider(account).list_numbers()
    except ProviderError as exc:
        _log_carrier_failure("number listing", account, exc)
        raise carrier_error(exc, secret=account.auth_token) from None
    found: dict[str, NumberInfo] = {}
    unusable: list[str] = []
    for info in listed:
        try:
            found[normalize_e164(info.phone_number)] = info
        except InvalidPhoneNumber:
            # The carrier is the authority on its own numbers (test ranges, ranges phonenumbers
            # does not know yet): keep any plausible E.164 as it spells it.
            if _PLAUSIBLE_E164.fullmatch(info.phone_number or ""):
                found[info.phone_number] = info
            else:
                unusable.append(info.phone_number)
    return found, unusable


def _configure(account: ProviderAccount, info: NumberInfo) -> None:
    inbound_url, status_url = selectors.webhook_urls(workspace=account.workspace, account=account)
    try:
        get_provider(account).configure_number(number=info, inbound_url=inbound_url, status_url=status_url)
    except ProviderError as exc:
        _log_carrier_failure("number configuration", account, exc)
        raise carrier_error(exc, secret=account.auth_token) from None


def _lock_workspace(workspace: Workspace) -> None:
    # Serialises number changes of one workspace, so that "first number becomes the default" and
    # default switching cannot race (a no-op on SQLite, which locks the whole database anyway).
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()


def _unavailable(phone_number: str) -> DomainError:
    return DomainError(
        "number_unavailable", f"{phone_number} already belongs to another workspace on this installation."
    )


def _new_number(
    workspace: Workspace,
    phone_number: str,
    info: NumberInfo,
    *,
    friendly_name: str,
    is_default: bool,
    account: ProviderAccount | None = None,
) -> PhoneNumber:
    number = PhoneNumber(
        workspace=workspace,
        phone_number=phone_number,
        account=account,
        friendly_name=friendly_name or info.friendly_name[:64],
        provider_sid=info.provider_sid,
        number_type=info.number_type,
        sms_enabled=info.sms,
        mms_enabled=info.mms,
        voice_enabled=info.voice,
        is_default=is_default,
    )
    try:
        with transaction.atomic():  # a savepoint, so a lost race leaves the transaction usable
            number.save(force_insert=True)
    except IntegrityError:
        raise _unavailable(phone_number) from None  # another workspace took it meanwhile
    return number


@transaction.atomic
def number_add(
    *, workspace: Workspace, phone_number: str, friendly_name: str = "", account_id: str | None = None
) -> PhoneNumber:
    """Add one number of a carrier account (the primary one unless `account_id` names another)
    to the workspace and point its webhooks here. On an account whose carrier allows it (SMPP),
    the sender may be an alphanumeric sender id instead of a number.

    The first number of a workspace becomes its default sender.
    """
    account = (
        selectors.access_carrier_account(workspace=workspace, account_id=account_id)
        if account_id
        else selectors.require_provider_account(workspace=workspace)
    )
    sender_id = is_sender_id(phone_number)
    if sender_id and Capability.ALPHANUMERIC_SENDER not in adapter_class(account.provider).capabilities:
        raise DomainError(
            "invalid_phone_number",
            f"'{phone_number}' is not a phone number: {account.get_provider_display()} "
            "accounts send from phone numbers only (alphanumeric sender ids are for "
            "SMPP accounts).",
            fields={
                "phone_number": [
                    f"'{phone_number}' is not a phone number; this carrier takes no alphanumeric sender ids."
                ]
            },
        )
    e164 = phone_number if sender_id else normalize_e164(phone_number, field="phone_number")
    _lock_workspace(workspace)
    owner = selectors.number_owner(phone_number=e164)
    if owner is not None:
        if owner.workspace_id == workspace.pk:
            raise DomainError("number_already_added", f"{e164} is already in this workspace.")
        # Checked before touching the carrier: configuring would steal the other's webhooks.
        raise _unavailable(e164)
    info: NumberInfo | None
    if sender_id:  # the SMSC keeps no list of them: whether it allows this one shows on sending
        info = NumberInfo(phone_number=e164, provider_sid=f"{account.provider}:{e164}", friendly_name=e164)
    else:
        info = _carrier_numbers(account)[0].get(e164)
    if info is None:
        raise DomainError(
            "number_not_on_account", f"{e164} is not a number of this workspace's carrier account."
        )
    _configure(account, info)
    is_default = selectors.default_sender(workspace=workspace) is None
    number = _new_number(
        workspace,
        e164,
        info,
        friendly_name=friendly_name,
        is_default=is_default,
        account=None if account.is_primary else account,
    )
    audit_record(workspace, "number.added", number, phone_number=e164, is_default=is_default)
    logger.info("Number %s added to workspace %s", number.pk, workspace.pk)
    return number


@transaction.atomic
def numbers_import(*, workspace: Workspace) -> ImportResult:
    """Add every number of the carrier account that is not in the workspace yet.

    Numbers of other workspaces are skipped and reported. Every number is configured on the
    carrier before any is saved, so a carrier failure part-way saves none.
    """
    account = selectors.require_provider_account(workspace=workspace)
    _lock_workspace(workspace)
    result = ImportResult()
    carrier_numbers, unusable = _carrier_numbers(account)
    result.skipped += [{"phone_number": raw, "reason": "invalid_phone_number"} for raw in unusable]
    owners = {
        n.phone_number: n.workspace_id for n in PhoneNumber.objects.filter(phone_number__in=carrier_numbers)
    }
    to_add: list[tuple[str, NumberInfo]] = []
    for e164, info in carrier_numbers.items():
        owner = owners.get(e164)
        if owner == workspace.pk:
            result.skipped.append({"phone_number": e164, "reason": "already_in_workspace"})
        elif owner is not None:
            result.skipped.append({"phone_number": e164, "reason": "number_unavailable"})
        else:
            to_add.append((e164, info))
    for _, info in to_add:
        _configure(account, info)
    needs_default = selectors.default_sender(workspace=workspace) is None
    for index, (e164, info) in enumerate(to_add):
        result.added.append(
            _new_number(workspace, e164, info, friendly_name="", is_default=needs_default and index == 0)
        )
    audit_record(workspace, "number.imported", added=[n.phone_number for n in result.added])
    logger.info(
        "Imported %d number(s) into workspace %s, skipped %d",
        len(result.added),
        workspace.pk,
        len(result.skipped),
    )
    return result


UNSET = object()  # a keyword left out, where None means something


@transaction.atomic
def number_update(
    *,
    number: PhoneNumber,
    friendly_name: str | None = None,
    is_default: bool | None = None,
    send_rate: float | None | object = UNSET,
) -> PhoneNumber:
    """Rename a number, make it the workspace's default sender (unsetting the previous one),
    and/or set its messages per second (None: the default for its type).

    A default can only be replaced, not unset: a workspace with numbers always has one.
    """
    _lock_workspace(number.workspace)
    number = PhoneNumber.objects.select_for_update().get(pk=number.pk)
    changed: list[str] = []
    if friendly_name is not None:
        number.friendly_name = friendly_name
        changed.append("friendly_name")
    if send_rate is not UNSET:
        number.send_rate = cast("float | None", send_rate)
        changed.append("send_rate")
    if is_default is True and not number.is_default:
        # Unset first: the one-default constraint is checked statement by statement.
        PhoneNumber.objects.for_workspace(number.workspace).filter(is_default=True).update(is_default=False)
        number.is_default = True
        changed.append("is_default")
    elif is_default is False and number.is_default:
        raise DomainError(
            "invalid_params",
            "A workspace always has a default number: make another number the default instead.",
            fields={"is_default": ["Cannot unset the default number."]},
        )
    if changed:
        number.save(update_fields=[*changed, "updated_at"])
        audit_record(number.workspace, "number.updated", number, **{f: getattr(number, f) for f in changed})
    return number


@transaction.atomic
def number_remove(*, number: PhoneNumber) -> None:
    """Remove a number from the workspace; if it was the default, the oldest other one takes over.

    The carrier keeps the number and its webhooks; inbound messages to it are then not routed
    to this workspace any more.
    """
    workspace, number_id, was_default = number.workspace, number.pk, number.is_default
    _lock_workspace(workspace)
    audit_record(workspace, "number.removed", number)
    number.delete()
    if was_default:
        successor = selectors.workspace_numbers(workspace=workspace).first()
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default", "updated_at"])
    logger.info("Number %s removed from workspace %s", number_id, workspace.pk)
