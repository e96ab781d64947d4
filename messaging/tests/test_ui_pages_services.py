"""The services and pages behind the web UI's opt-outs, retries, scheduling and error meanings,
without a browser (the browser tests are test_browser_failures.py and test_browser_webhooks.py)."""

import pytest
from django.test import Client

from messaging import opt_outs
from messaging.carrier_errors import explain_error
from messaging.models import ConsentEvent, Direction, Message, MessageEvent, OptOut, Status
from workspaces.audit.models import AuditRecord

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_adds_and_removes_an_opt_out_and_the_audit_log_names_them(user, workspace):
    client = page_client(user)
    response = client.post(f"/w/{workspace.pk}/settings/opt-outs/", {"phone_number": "+1 415 555 0100"})
    assert response.status_code == 302
    assert OptOut.objects.get(workspace=workspace).phone_number == "+14155550100"
    client.post(f"/w/{workspace.pk}/settings/opt-outs/remove", {"phone_number": "+14155550100"})
    assert not OptOut.objects.filter(workspace=workspace).exists()
    trail = ConsentEvent.objects.filter(workspace=workspace).order_by("created_at")
    assert [e.action for e in trail] == ["opt_out", "opt_in"]
    records = AuditRecord.objects.for_workspace(workspace).filter(kind__startswith="opt_out.")
    assert sorted((r.kind, r.actor_label) for r in records) == [
        ("opt_out.created", "owner@example.com"),
        ("opt_out.deleted", "owner@example.com"),
    ]


def test_a_member_reads_the_opt_outs_but_cannot_change_them(member, workspace):
    OptOut.objects.create(workspace=workspace, phone_number="+14155550100", keyword="STOP")
    client = page_client(member)
    assert client.get(f"/w/{workspace.pk}/settings/opt-outs/").status_code == 200
    assert (
        client.post(f"/w/{workspace.pk}/settings/opt-outs/", {"phone_number": "+14155550101"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/w/{workspace.pk}/settings/opt-outs/remove", {"phone_number": "+14155550100"}
        ).status_code
        == 403
    )
    assert OptOut.objects.filter(workspace=workspace).count() == 1


def test_opting_out_twice_or_removing_a_stranger_is_refused(workspace, other_workspace):
    opt_outs.opt_out_add(workspace=workspace, phone_number="+14155550100")
    with pytest.raises(Exception, match="opted out already"):
        opt_outs.opt_out_add(workspace=workspace, phone_number="+14155550100")
    with pytest.raises(Exception, match="has not opted out"):
        opt_outs.opt_out_remove(workspace=other_workspace, phone_number="+14155550100")
    assert OptOut.objects.filter(workspace=workspace).count() == 1


def test_another_workspaces_message_cannot_be_retried_or_canceled(user, workspace, other_workspace):
    theirs = Message.objects.create(
        workspace=other_workspace,
        direction=Direction.OUTBOUND,
        status=Status.FAILED,
        to_number="+14155550100",
        body="x",
    )
    client = page_client(user)
    assert client.post(f"/w/{workspace.pk}/messages/{theirs.pk}/retry").status_code == 404
    assert client.post(f"/w/{workspace.pk}/messages/{theirs.pk}/cancel").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.FAILED


def test_a_retry_to_an_opted_out_number_is_refused(user, workspace, simulator):
    message = Message.objects.create(
        workspace=workspace,
        direction=Direction.OUTBOUND,
        status=Status.FAILED,
        to_number="+14155550100",
        body="x",
    )
    OptOut.objects.create(workspace=workspace, phone_number="+14155550100", keyword="STOP")
    response = page_client(user).post(f"/w/{workspace.pk}/messages/{message.pk}/retry", follow=True)
    assert "has opted out" in response.content.decode()
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert not MessageEvent.objects.filter(message=message).exists()


def test_error_codes_are_explained_and_unknown_ones_are_not_invented():
    explained = explain_error("30003")
    assert "could not be reached" in explained.meaning and explained.action
    assert explain_error("99999") is None and explain_error(None) is None


def test_an_api_key_on_the_ui_api_is_told_to_use_a_session_token(api_key, workspace):
    client = Client()
    response = client.get(
        f"/api/ui/workspaces/{workspace.pk}/messages", HTTP_AUTHORIZATION=f"Bearer {api_key.key}"
    )
    assert response.status_code == 401
    assert "This is an API key" in response.json()["detail"]
