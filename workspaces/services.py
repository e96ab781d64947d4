"""Workspaces, members, invitations and API keys: every write goes through here."""

import functools
import hmac
import logging
import secrets
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import User, normalize_email
from messaging_platform.api import credentials
from messaging_platform.errors import DomainError, forbidden, not_found
from messaging_platform.tokens import (
    API_KEY_PREFIX as API_KEY_PREFIX,  # re-exported: the WebSocket consumer reads it here
)
from messaging_platform.tokens import generate_secret, hash_secret, record_use
from workspaces.audit.context import acting_user
from workspaces.audit.services import audit_record

from .models import ApiKey, AuthToken, Invitation, Membership, Role, Workspace

API_KEY_DISPLAY_LENGTH = len(API_KEY_PREFIX) + 6
INVITATION_TOKEN_PREFIX = "mp_inv_"
logger = logging.getLogger(__name__)

INVITATION_UNAVAILABLE = (
    "This invitation does not exist, was already used, has expired, or was "
    "sent to an email address other than the one you are signed in with."
)


def clean_workspace_name(name: str) -> str:
    """The name, stripped; refused with control characters (CR/LF would break the subject of every
    invitation email, and none belongs in a name)."""
    name = name.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise DomainError(
            "invalid_params",
            "name: control characters are not allowed.",
            fields={
                "name": ["Control characters (line breaks, tabs and the like) are not allowed in a name."]
            },
        )
    if not name:
        raise DomainError(
            "invalid_params",
            "name: This field may not be blank.",
            fields={"name": ["This field may not be blank."]},
        )
    return name


@transaction.atomic
def workspace_create(*, user: User, name: str) -> Workspace:
    workspace = Workspace.objects.create(name=clean_workspace_name(name))
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    audit_record(workspace, "workspace.created", workspace, actor=acting_user(user), name=name)
    return workspace


@transaction.atomic
def workspace_rename(*, workspace: Workspace, name: str) -> Workspace:
    workspace.name = clean_workspace_name(name)
    workspace.save(update_fields=["name", "updated_at"])
    audit_record(workspace, "workspace.renamed", workspace, name=name)
    return workspace


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA time zone names this installation knows."""
    return frozenset(zoneinfo.available_timezones())


def clean_timezone(raw: object) -> str:
    """An IANA time zone name, as the time zone database spells it."""
    if not isinstance(raw, str) or raw not in zone_names():
        raise DomainError(
            "invalid_params",
            "timezone must be an IANA time zone name, such as America/New_York or UTC.",
            fields={"timezone": ["Not an IANA time zone name."]},
        )
    return raw


@transaction.atomic
def workspace_update(*, workspace: Workspace, name: str | None = None, zone: str | None = None) -> Workspace:
    """Rename the workspace and/or set its time zone (both checked before either is saved)."""
    changes = {}
    if name is not None:
        changes["name"] = clean_workspace_name(name)
    if zone is not None:
        changes["timezone"] = clean_timezone(zone)
    if "name" in changes and changes["name"] != workspace.name:
        workspace_rename(workspace=workspace, name=changes["name"])
    if "timezone" in changes and changes["timezone"] != workspace.timezone:
        workspace.timezone = changes["timezone"]
        workspace.save(update_fields=["timezone", "updated_at"])
        audit_record(workspace, "workspace.timezone_changed", workspace, timezone=workspace.timezone)
    return workspace


def workspace_delete(*, membership: Membership) -> None:
    if membership.role != Role.OWNER:
        raise forbidden("Only an owner can delete the workspace.")
    membership.workspace.delete()


# Members ---------------------------------------------------------------------------------------


def _member(workspace: Workspace, user_id: str) -> Membership:
    membership = (
        Membership.objects.for_workspace(workspace).select_related("user").filter(user_id=user_id)
    ).first()
    if membership is None:
        raise not_found("Member not found.")
    return membership


def _ensure_other_owner(target: Membership) -> None:
    if target.role == Role.OWNER:
        owners = Membership.objects.for_workspace(target.workspace).filter(role=Role.OWNER)
        if owners.select_for_update().count() <= 1:
            raise DomainError("last_owner", "A workspace must keep at least one owner.")


@transaction.atomic
def member_change_role(*, actor: Membership, user_id: str, role: str) -> Membership:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can change roles.")
    target = _member(actor.workspace, user_id)
    if (role == Role.OWNER or target.role == Role.OWNER) and actor.role != Role.OWNER:
        raise forbidden("Only an owner can grant or take away the owner role.")
    if target.role == Role.OWNER and role != Role.OWNER:
        _ensure_other_owner(target)
    audit_record(actor.workspace, "member.role_changed", target, role=[target.role, role])
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def member_remove(*, actor: Membership, user_id: str) -> None:
    """Remove a member; any member may remove themselves (leave)."""
    target = _member(actor.workspace, user_id)
    if target.user_id != actor.user_id:
        if not actor.can_manage:
            raise forbidden("Only owners and admins can remove members.")
        if target.role == Role.OWNER and actor.role != Role.OWNER:
            raise forbidden("Only an owner can remove an owner.")
    _ensure_other_owner(target)
    audit_record(actor.workspace, "member.left" if target == actor else "member.removed", target)
    target.delete()


# Invitations -----------------------------------------------------------------------------------


@dataclass
class IssuedInvitation:
    invitation: Invitation
    token: str
    accept_url: str = ""
    # Set once the email was handed to EMAIL_BACKEND (after commit): True, or False when it failed.
    email_sent: bool | None = None


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str) -> IssuedInvitation:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can invite members.")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise forbidden("Only an owner can invite another owner.")
    email = normalize_email(email)
    workspace = actor.workspace
    if Membership.objects.for_workspace(workspace).filter(user__email=email).exists():
        raise DomainError("already_member", f"{email} is already a member of this workspace.")
    token = generate_secret(INVITATION_TOKEN_PREFIX)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(workspace, "invitation.created", invitation, email=email, role=role)
    inviter = actor.user.name or actor.user.email
    # Every emailed link starts with PUBLIC_BASE_URL (password reset too): `make run` sets it from
    # PORT, and behind a proxy it is the address people use.
    accept_url = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/invitations/accept?token={token}"
    issued = IssuedInvitation(invitation=invitation, token=token, accept_url=accept_url)

    def send() -> None:
        try:
            send_mail(
                subject=f"{inviter} invited you to {workspace.name}",
                message=(
                    f"{inviter} invited you to join the workspace {workspace.name} as {role}.\n\n"
                    f"Accept the invitation: {accept_url}\n\n"
                    f"Or accept through the API with this token: {token}\n"
                    f"The invitation expires in {settings.INVITATION_TTL_DAYS} days."
                ),
                from_email=None,
                recipient_list=[email],
            )
        except Exception:
            logger.exception("Could not send the invitation email for %s", invitation.pk)
            issued.email_sent = False
        else:
            issued.email_sent = True

    transaction.on_commit(send)
    return issued


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation_id: str) -> None:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can revoke invitations.")
    invitation = (
        Invitation.objects.for_workspace(actor.workspace)
        .select_for_update()
        .filter(pk=invitation_id, accepted_at__isnull=True)
        .first()
    )
    if invitation is None:
        raise not_found("Invitation not found.")
    audit_record(actor.workspace, "invitation.revoked", invitation)
    invitation.delete()


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the workspace of a pending invitation addressed to this user's email. Single use."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("workspace")
        .filter(token_hash=hash_secret(token))
        .first()
    )
    # Another address's invitation is answered exactly like a missing one: a distinct answer
    # would tell whoever holds the token that it is live (and for which workspace to wait).
    if (
        invitation is None
        or invitation.status != "pending"
        or not invitation.workspace.is_active
        or invitation.email != user.email
    ):
        raise not_found(INVITATION_UNAVAILABLE)
    membership, created = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        invitation.workspace, "member.joined", membership, actor=acting_user(user), role=membership.role
    )
    return membership


# API keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    key: str  # shown to the client once


@transaction.atomic
def api_key_create(*, actor: Membership, name: str) -> IssuedApiKey:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can create API keys.")
    raw = generate_secret(API_KEY_PREFIX)
    api_key = ApiKey.objects.create(
        workspace=actor.workspace,
        name=name,
        prefix=raw[:API_KEY_DISPLAY_LENGTH],
        key_hash=hash_secret(raw),
        created_by=actor.user,
    )
    audit_record(actor.workspace, "api_key.created", api_key, name=name)
    return IssuedApiKey(api_key=api_key, key=raw)


@transaction.atomic
def api_key_revoke(*, actor: Membership, api_key_id: str) -> None:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can revoke API keys.")
    updated = (
        ApiKey.objects.for_workspace(actor.workspace)
        .filter(pk=api_key_id, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )
    if not updated:
        raise not_found("API key not found.")
    audit_record(actor.workspace, "api_key.revoked", ApiKey.objects.get(pk=api_key_id))


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for a raw secret; a revoked key or disabled workspace fails at once."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    digest = hash_secret(raw)
    # Cached per process, exactly: see messaging_platform/api/credentials.py.
    api_key = credentials.cached(
        "api-key", digest, lambda: ApiKey.objects.select_related("workspace").filter(key_hash=digest).first()
    )
    if api_key is None or not api_key.is_active or not api_key.workspace.is_active:
        return None
    record_use(api_key)
    return api_key


# Auth tokens of the Twilio-compatible API -------------------------------------------------------

AUTH_TOKEN_DISPLAY_LENGTH = 4


@dataclass(frozen=True)
class IssuedAuthToken:
    auth_token: AuthToken
    token: str  # shown to the client once


@transaction.atomic
def auth_token_create(*, actor: Membership, name: str) -> IssuedAuthToken:
    """A new password for the Twilio-compatible API: 32 hex characters, like Twilio's own."""
    if not actor.can_manage:
        raise forbidden("Only owners and admins can create auth tokens.")
    raw = secrets.token_hex(16)
    auth_token = AuthToken.objects.create(
        workspace=actor.workspace,
        name=name,
        prefix=raw[:AUTH_TOKEN_DISPLAY_LENGTH],
        token_hash=hash_secret(raw),
        token=raw,
        created_by=actor.user,
    )
    audit_record(actor.workspace, "auth_token.created", auth_token, name=name)
    return IssuedAuthToken(auth_token=auth_token, token=raw)


@transaction.atomic
def auth_token_revoke(*, actor: Membership, auth_token_id: str) -> None:
    if not actor.can_manage:
        raise forbidden("Only owners and admins can revoke auth tokens.")
    updated = (
        AuthToken.objects.for_workspace(actor.workspace)
        .filter(pk=auth_token_id, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )
    if not updated:
        raise not_found("Auth token not found.")
    audit_record(actor.workspace, "auth_token.revoked", AuthToken.objects.get(pk=auth_token_id))


@dataclass(frozen=True)
class CompatCredential:
    workspace: Workspace
    api_key: ApiKey | None = None
    auth_token: AuthToken | None = None

    @property
    def pk(self) -> str:
        credential = self.api_key or self.auth_token
        assert credential is not None  # one of the two, always
        return credential.pk


def compat_credentials_authenticate(*, account_sid: str, password: str) -> CompatCredential | None:
    """HTTP Basic of the Twilio-compatible API: the workspace's account SID as the username, and
    as the password one of its live auth tokens or API keys. None for anything else."""
    if password.startswith(API_KEY_PREFIX):
        api_key = api_key_authenticate(password)
        if api_key is None or not hmac.compare_digest(api_key.workspace.account_sid, account_sid):
            return None
        return CompatCredential(workspace=api_key.workspace, api_key=api_key)
    token = AuthToken.objects.select_related("workspace").filter(token_hash=hash_secret(password)).first()
    if (
        token is None
        or not token.is_active
        or not token.workspace.is_active
        or not hmac.compare_digest(token.workspace.account_sid, account_sid)
    ):
        return None
    record_use(token)
    return CompatCredential(workspace=token.workspace, auth_token=token)


def workspace_signing_token(*, workspace_id: str) -> str | None:
    """The auth token that signs the workspace's callbacks: its newest live one (Twilio signs
    with the account's primary token). None when it has none."""
    token = (
        AuthToken.objects.filter(workspace_id=workspace_id, revoked_at__isnull=True)
        .order_by("-created_at", "-pk")
        .only("token")
        .first()
    )
    return token.token if token else None
