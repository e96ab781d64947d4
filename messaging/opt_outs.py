"""Opt-outs made by hand (a contact who asked by phone or email, or one let back in): the same
OptOut rows that a STOP keyword makes (messaging.carrier_events), with the same consent trail,
and the audit log saying who did it."""

from django.db import transaction

from messaging_platform.errors import invalid_params, not_found
from numbers.phone import normalize_e164
from workspaces.audit.services import audit_record
from workspaces.models import Workspace

from .models import ConsentAction, ConsentEvent, OptOut

# The consent trail's keyword for a change made by a person rather than a text.
BY_HAND = "BY HAND"


def opt_out_for(*, workspace: Workspace, phone_number: str) -> OptOut | None:
    return OptOut.objects.for_workspace(workspace).filter(phone_number=phone_number).first()


@transaction.atomic
def opt_out_add(*, workspace: Workspace, phone_number: str) -> OptOut:
    """Stop messages to `phone_number` as if they had texted STOP."""
    number = normalize_e164(phone_number, field="phone_number")
    opt_out, created = OptOut.objects.get_or_create(
        workspace=workspace, phone_number=number, defaults={"keyword": BY_HAND}
    )
    if not created:
        raise invalid_params(
            f"{number} has opted out already.", {"phone_number": ["This number has opted out already."]}
        )
    ConsentEvent.objects.create(
        workspace=workspace, phone_number=number, action=ConsentAction.OPT_OUT, keyword=BY_HAND
    )
    audit_record(workspace, "opt_out.created", opt_out, phone_number=number)
    return opt_out


@transaction.atomic
def opt_out_remove(*, workspace: Workspace, phone_number: str) -> None:
    """Let messages to `phone_number` through again (they agreed to receive them)."""
    opt_out = (
        OptOut.objects.for_workspace(workspace).select_for_update().filter(phone_number=phone_number).first()
    )
    if opt_out is None:
        raise not_found("This number has not opted out.")
    ConsentEvent.objects.create(
        workspace=workspace, phone_number=opt_out.phone_number, action=ConsentAction.OPT_IN, keyword=BY_HAND
    )
    audit_record(workspace, "opt_out.deleted", opt_out, phone_number=opt_out.phone_number)
    opt_out.delete()
