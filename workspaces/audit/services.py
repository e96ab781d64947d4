"""Writing the audit log. Each service that changes a workspace's set-up calls `audit_record` in
the transaction of the change, so a change and its record commit (or roll back) together."""

from typing import Any, cast

from django.db import models

from workspaces.models import Workspace

from .context import Actor, current_actor
from .models import FAMILIES, AuditRecord

# Fields whose values are never written down, only that they changed: any name with one of these
# in it (auth_token, new_auth_token, secret, password, key_hash, …), and `key` itself.
SECRET_NAME_PARTS = ("token", "secret", "password", "key_hash", "private_key", "credential")
CHANGED = "[changed]"


def is_secret(name: str) -> bool:
    name = name.lower()
    return name in ("key", "api_key") or any(part in name for part in SECRET_NAME_PARTS)


def _plain(value: object) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def scrub(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as JSON; a secret's value becomes "[changed]" (and an unchanged one is left out)."""
    return {
        name: CHANGED if is_secret(name) else _plain(value)
        for name, value in changes.items()
        if value or not is_secret(name)
    }


def audit_record(
    workspace: Workspace,
    kind: str,
    target: models.Model | None = None,
    /,
    *,
    actor: Actor | None = None,
    **changes: Any,
) -> AuditRecord:
    """Record one change of `workspace` (what changed as keywords: `role=…`), by the current
    request's actor unless one is given."""
    if kind.split(".", 1)[0] not in FAMILIES:
        raise ValueError(f"unknown audit kind {kind!r}")
    actor = actor or current_actor()
    return AuditRecord.objects.create(
        workspace=workspace,
        kind=kind,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:300],
        target_type=cast(str, target._meta.model_name) if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:300] if target is not None else "",
        changes=scrub(changes),
    )
