"""Schemathesis over every operation of /api/schema/, as a member of Acme with Other Co present:
no 5xx, answers that match the schema, and nothing of Other Co in any answer.

FUZZ_EXAMPLES (default 10 per operation, mode and variant) and FUZZ_SEED tune the run;
bench/fuzz_api.py runs it long. FUZZ_REPORT names a file for the JSON figures.
"""

import json
import os
from pathlib import Path

import pytest
from django.core.wsgi import get_wsgi_application

from accounts.services import session_token_issue
from messaging.models import Conversation, Message
from messaging_platform.testing.fuzz import fuzz_api
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Invitation, Membership, Role
from workspaces.services import api_key_create

pytestmark = pytest.mark.django_db

OTHER_SECRET_BODY = "Other Co secret launch plan"
OTHER_NUMBER = "+13125550100"


def seed(workspace, *, our_number: str, contact: str, body: str) -> dict[str, str]:
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    number = PhoneNumber.objects.create(
        workspace=workspace, phone_number=our_number, is_default=True, mms_enabled=True
    )
    conversation = Conversation.objects.create(
        workspace=workspace, our_number=our_number, contact_number=contact
    )
    message = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status="scheduled",
        to_number=contact,
        from_number=our_number,
        body=body,
        conversation=conversation,
        scheduled_at="2099-01-01T00:00:00Z",
    )
    return {"number_id": number.id, "conversation_id": conversation.id, "message_id": message.id}


def test_fuzzing_every_operation_finds_no_5xx_no_schema_violation_and_no_leak(
    settings, fake_twilio, fake_telnyx, user, workspace, member, outsider, other_workspace
):
    # The fakes: a fuzzed carrier account must never make us call the real api.twilio.com or
    # api.telnyx.com.
    settings.ALLOWED_HOSTS = ["*"]
    settings.API_KEY_RATE_LIMIT = settings.UI_RATE_LIMIT = "1000000/m"
    acme = seed(workspace, our_number="+12015550123", contact="+14155552671", body="Hello")
    other = seed(other_workspace, our_number=OTHER_NUMBER, contact="+14155550199", body=OTHER_SECRET_BODY)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email="guest@example.com",
        role=Role.MEMBER,
        token_hash="0" * 64,
        invited_by=user,
        expires_at="2099-01-01T00:00:00Z",
    )
    owner = Membership.objects.get(user=user, workspace=workspace)
    key = api_key_create(actor=owner, name="fuzz")
    other_key = api_key_create(
        actor=Membership.objects.get(user=outsider, workspace=other_workspace), name="o"
    )
    session = session_token_issue(user=user).token

    def auth_for(path: str) -> dict[str, str]:
        token = session if path.startswith(("/api/ui/", "/api/auth/")) else key.key
        return {"Authorization": f"Bearer {token}"}

    pinned = {
        "workspace_id": workspace.id,
        "user_id": member.id,
        "api_key_id": key.api_key.id,
        "invitation_id": invitation.id,
        **acme,
    }
    forbidden = [
        other_workspace.id,
        OTHER_SECRET_BODY,
        OTHER_NUMBER,
        outsider.id,
        outsider.email,
        other_key.api_key.id,
        *other.values(),
    ]
    report = fuzz_api(
        app=get_wsgi_application(),
        auth_for=auth_for,
        pinned=pinned,
        forbidden=forbidden,
        examples=int(os.environ.get("FUZZ_EXAMPLES", "10")),
        random_seed=int(os.environ.get("FUZZ_SEED", "8")),
    )
    if path := os.environ.get("FUZZ_REPORT"):
        Path(path).write_text(json.dumps(report.summary(), indent=2))
    print(report.details())
    assert len(report.operations) >= 45
    assert report.server_errors == [], report.details()
    assert not report.schema_violations, report.details()
    assert report.leaks == [], report.details()
