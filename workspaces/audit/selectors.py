from collections.abc import Mapping

from django.db.models import QuerySet

from messaging_platform.errors import invalid_params
from workspaces.models import Workspace

from .models import FAMILIES, ActorKind, AuditRecord


def audit_log(*, workspace: Workspace, filters: Mapping[str, str]) -> QuerySet[AuditRecord]:
    """The workspace's audit records, newest first.

    `actor`: a user id, an API key id, or `operator` / `system`; `kind`: a family (`api_key`) or
    one kind (`api_key.revoked`).
    """
    records = AuditRecord.objects.for_workspace(workspace).select_related("actor_user")
    if raw := filters.get("actor"):
        if raw in (ActorKind.OPERATOR, ActorKind.SYSTEM, ActorKind.API_KEY, ActorKind.USER):
            records = records.filter(actor_kind=raw)
        elif raw.startswith("key_"):
            records = records.filter(actor_api_key_id=raw)
        else:
            records = records.filter(actor_user_id=raw)
    if raw := filters.get("kind"):
        family, _, verb = raw.partition(".")
        if family not in FAMILIES:
            raise invalid_params(
                f"kind must start with one of: {', '.join(FAMILIES)}.", {"kind": ["Unknown kind."]}
            )
        records = records.filter(kind=raw) if verb else records.filter(kind__startswith=f"{family}.")
    return records
