"""The audit log: every kind of change to a workspace's set-up is recorded with its actor, in the
change's own transaction, readable by owners and admins through the API, the page and the admin,
and never with a secret in it."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from conftest import assert_error, client_for
from messaging.models import OptOut
from workspaces.audit.context import actor_from_request, serving
from workspaces.audit.models import AuditRecord
from workspaces.audit.services import audit_record
from workspaces.models import Membership, Role
from workspaces.services import invitation_create

pytestmark = pytest.mark.django_db


def log_url(workspace, query: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.pk}/audit-log{query}"


def kinds(client, workspace, query: str = "") -> list[str]:
    response = client.get(log_url(workspace, query))
    assert response.status_code == 200, response.content
    return [record["kind"] for record in response.json()["data"]]


def audit_rows_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditrecord")
        return repr(cursor.fetchall())


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def test_member_role_invitation_and_key_changes_are_recorded_with_who_made_them(
    owner_client, workspace, user, member, make_user
):
    ws = f"/api/ui/workspaces/{workspace.pk}"
    assert owner_client.patch(ws, {"name": "Acme Inc"}, format="json").status_code == 200
    assert (
        owner_client.patch(f"{ws}/members/{member.pk}", {"role": "admin"}, format="json").status_code == 200
    )
    invited = owner_client.post(
        f"{ws}/invitations", {"email": "new@example.com", "role": "member"}, format="json"
    )
    assert invited.status_code == 201
    assert owner_client.delete(f"{ws}/invitations/{invited.json()['id']}").status_code == 204
    key = owner_client.post(f"{ws}/api-keys", {"name": "CI"}, format="json").json()
    assert owner_client.delete(f"{ws}/api-keys/{key['id']}").status_code == 204
    assert owner_client.delete(f"{ws}/members/{member.pk}").status_code == 204

    response = owner_client.get(log_url(workspace))
    records = response.json()["data"]
    assert [r["kind"] for r in records] == [
        "member.removed",
        "api_key.revoked",
        "api_key.created",
        "invitation.revoked",
        "invitation.created",
        "member.role_changed",
        "workspace.renamed",
        "workspace.created",
    ]
    assert {r["actor"]["type"] for r in records} == {"user"}
    assert {r["actor"]["id"] for r in records} == {user.pk}
    assert records[0]["actor"]["label"] == "owner@example.com"
    role_change = records[5]
    assert role_change["changes"] == {"role": ["member", "admin"]}
    assert role_change["target"]["type"] == "membership"
    assert records[1]["target"] == {"type": "apikey", "id": key["id"], "label": f"CI ({key['prefix']}…)"}
    assert records[6]["changes"] == {"name": "Acme Inc"}
    assert response.json()["pagination"]["totalItems"] == 8
    # The key's full secret is in no record.
    assert key["key"] not in audit_rows_text()


def test_accepting_an_invitation_is_recorded_as_the_new_member_joining(workspace, user, make_user):
    owner = Membership.objects.get(workspace=workspace, user=user)
    token = invitation_create(actor=owner, email="guest@example.com", role="admin").token
    guest = make_user("guest@example.com")
    accepted = client_for(guest).post("/api/ui/invitations/accept", {"token": token}, format="json")
    assert accepted.status_code in (200, 201), accepted.content
    joined = AuditRecord.objects.get(kind="member.joined")
    assert (joined.actor_user, joined.changes) == (guest, {"role": "admin"})
    assert token not in audit_rows_text()


def test_a_member_leaving_is_recorded_as_leaving(member_client, workspace, member):
    assert member_client.delete(f"/api/ui/workspaces/{workspace.pk}/members/{member.pk}").status_code == 204
    left = AuditRecord.objects.get(kind="member.left")
    assert left.actor_user == member


def test_carrier_account_changes_say_the_token_changed_but_never_store_it(
    owner_client, workspace, twilio_account, make_twilio_account
):
    url = f"/api/ui/workspaces/{workspace.pk}/provider"
    body = {"provider": "twilio", "account_sid": twilio_account.sid, "auth_token": twilio_account.auth_token}
    assert owner_client.put(url, body, format="json").status_code == 200
    # The same account again without a token keeps the stored one: not a token change.
    assert (
        owner_client.put(
            url, {"provider": "twilio", "account_sid": twilio_account.sid}, format="json"
        ).status_code
        == 200
    )
    refused = owner_client.put(url, {**body, "auth_token": "wrong" * 6}, format="json")
    assert refused.status_code == 400
    assert owner_client.put(url, {"provider": "simulator"}, format="json").status_code == 200

    records = owner_client.get(log_url(workspace, "?kind=carrier_account")).json()["data"]
    assert [r["changes"] for r in records] == [
        {"provider": "simulator"},
        {"provider": "twilio", "account_sid": twilio_account.sid, "messaging_service_sid": ""},
        {
            "provider": "twilio",
            "account_sid": twilio_account.sid,
            "messaging_service_sid": "",
            "auth_token": "[changed]",
        },
    ]  # the refused change left no record
    assert twilio_account.auth_token not in audit_rows_text()
    assert "wrong" not in audit_rows_text()


def test_carrier_accounts_added_changed_and_removed_and_routes_are_recorded(
    owner_client, workspace, twilio_account, fake_telnyx, telnyx_account
):
    ws = f"/api/ui/workspaces/{workspace.pk}"
    twilio = owner_client.post(
        f"{ws}/carriers",
        {
            "provider": "twilio",
            "name": "US",
            "account_sid": twilio_account.sid,
            "auth_token": twilio_account.auth_token,
        },
        format="json",
    ).json()
    telnyx = owner_client.post(
        f"{ws}/carriers",
        {
            "provider": "telnyx",
            "name": "Europe",
            "api_key": telnyx_account.api_key,
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
        format="json",
    ).json()
    assert (
        owner_client.patch(f"{ws}/carriers/{telnyx['id']}", {"name": "EU"}, format="json").status_code == 200
    )
    route = owner_client.post(
        f"{ws}/routes",
        {"prefix": "+44", "account_id": telnyx["id"], "fallback_account_id": twilio["id"]},
        format="json",
    ).json()
    assert (
        owner_client.patch(f"{ws}/routes/{route['id']}", {"prefix": "+33"}, format="json").status_code == 200
    )
    assert owner_client.delete(f"{ws}/routes/{route['id']}").status_code == 204
    assert owner_client.delete(f"{ws}/carriers/{telnyx['id']}").status_code == 204

    records = [
        r for r in owner_client.get(log_url(workspace)).json()["data"] if r["kind"].startswith("carrier_")
    ]
    assert [r["kind"] for r in records] == [
        "carrier_account.removed",
        "carrier_route.removed",
        "carrier_route.updated",
        "carrier_route.added",
        "carrier_account.updated",
        "carrier_account.added",
        "carrier_account.added",
    ]
    assert records[4]["changes"] == {"name": "EU"}
    assert records[3]["changes"]["prefix"] == "+44"
    assert records[3]["changes"]["fallback_account_id"] == twilio["id"]
    assert records[6]["changes"]["auth_token"] == "[changed]"
    assert all(r["actor"]["type"] == "user" for r in records)
    assert twilio_account.auth_token not in audit_rows_text()
    assert telnyx_account.api_key not in audit_rows_text()


def test_number_changes_are_recorded(owner_client, workspace):
    from numbers.providers.simulator import simulator_numbers

    ws = f"/api/ui/workspaces/{workspace.pk}"
    owner_client.put(f"{ws}/provider", {"provider": "simulator"}, format="json")
    first, *_ = simulator_numbers(workspace.pk)
    added = owner_client.post(f"{ws}/numbers", {"phone_number": first}, format="json").json()
    assert owner_client.post(f"{ws}/numbers/import").status_code == 201
    assert (
        owner_client.patch(
            f"{ws}/numbers/{added['id']}", {"friendly_name": "Support"}, format="json"
        ).status_code
        == 200
    )
    assert owner_client.delete(f"{ws}/numbers/{added['id']}").status_code == 204

    records = owner_client.get(log_url(workspace, "?kind=number")).json()["data"]
    assert [r["kind"] for r in records] == [
        "number.removed",
        "number.updated",
        "number.imported",
        "number.added",
    ]
    assert records[3]["changes"] == {"phone_number": first, "is_default": True}
    assert records[1]["changes"] == {"friendly_name": "Support"}
    assert first not in records[2]["changes"]["added"]
    assert records[0]["target"]["label"] == first


def test_webhook_endpoint_changes_are_recorded_without_their_secret(
    owner_client, workspace, webhook_settings
):
    ws = f"/api/ui/workspaces/{workspace.pk}"
    created = owner_client.post(
        f"{ws}/webhooks",
        {"url": "https://hooks.example.com/a", "events": ["message.received"]},
        format="json",
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert (
        owner_client.patch(f"{ws}/webhooks/{endpoint['id']}", {"is_active": False}, format="json").status_code
        == 200
    )
    rotated = owner_client.post(f"{ws}/webhooks/{endpoint['id']}/rotate-secret").json()
    assert owner_client.delete(f"{ws}/webhooks/{endpoint['id']}").status_code == 204

    records = owner_client.get(log_url(workspace, "?kind=webhook_endpoint")).json()["data"]
    assert [r["kind"] for r in records] == [
        "webhook_endpoint.deleted",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.updated",
        "webhook_endpoint.created",
    ]
    assert records[1]["changes"] == {"secret": "[changed]"}
    assert records[2]["changes"]["is_active"] is False
    assert records[3]["changes"] == {"url": "https://hooks.example.com/a", "events": ["message.received"]}
    text = audit_rows_text()
    for secret in (endpoint["secret"], rotated["secret"]):
        assert secret not in text and secret.removeprefix("whsec_") not in text


def test_a_change_that_fails_leaves_no_record(owner_client, workspace, member):
    # Demoting the last owner is refused; nothing of it is recorded.
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER)
    response = owner_client.patch(
        f"/api/ui/workspaces/{workspace.pk}/members/{owner.user_id}", {"role": "member"}, format="json"
    )
    assert_error(response, 409, "last_owner")
    assert not AuditRecord.objects.filter(kind="member.role_changed").exists()


def test_filters_by_actor_and_kind_and_pages_like_every_list(owner_client, workspace, user, admin_user):
    admin = client_for(admin_user)
    for n in range(3):
        owner_client.post(f"/api/ui/workspaces/{workspace.pk}/api-keys", {"name": f"k{n}"}, format="json")
    admin.post(f"/api/ui/workspaces/{workspace.pk}/api-keys", {"name": "theirs"}, format="json")
    by_admin = admin.get(log_url(workspace, f"?actor={admin_user.pk}")).json()
    assert [r["changes"]["name"] for r in by_admin["data"]] == ["theirs"]
    assert kinds(owner_client, workspace, "?kind=api_key.created&actor=user") == ["api_key.created"] * 4
    assert kinds(owner_client, workspace, "?kind=workspace") == ["workspace.created"]
    assert kinds(owner_client, workspace, "?actor=operator") == []
    page = owner_client.get(log_url(workspace, "?limit=2&page=2")).json()
    assert page["pagination"] == {"currentPage": 2, "totalPages": 3, "totalItems": 5, "hasNext": True}
    assert len(page["data"]) == 2


def test_bad_filters_and_pages_answer_400(owner_client, workspace):
    assert_error(owner_client.get(log_url(workspace, "?kind=nonsense")), 400, "invalid_params")
    assert_error(owner_client.get(log_url(workspace, "?kind=%00")), 400, "invalid_params")
    assert_error(owner_client.get(log_url(workspace, "?limit=1000")), 400, "invalid_params")


def test_only_owners_and_admins_read_the_log(member_client, workspace, outsider_client):
    assert_error(member_client.get(log_url(workspace)), 403, "forbidden")
    assert_error(outsider_client.get(log_url(workspace)), 404, "not_found")


def test_another_workspaces_changes_never_show(owner_client, workspace, outsider_client, other_workspace):
    outsider_client.post(
        f"/api/ui/workspaces/{other_workspace.pk}/api-keys", {"name": "theirs"}, format="json"
    )
    records = owner_client.get(log_url(workspace)).json()["data"]
    assert [r["kind"] for r in records] == ["workspace.created"]


@pytest.fixture
def operator_client(db) -> Client:
    operator = User.objects.create_superuser(email="root@example.com", password="root-pass-123")
    client = Client()
    client.force_login(operator)
    return client


def test_operator_changes_in_the_admin_are_recorded_as_the_operators(operator_client, workspace, api_key):
    assert (
        operator_client.post(
            reverse("admin:workspaces_apikey_changelist"),
            {"action": "revoke", "_selected_action": [api_key.api_key.pk]},
        ).status_code
        == 302
    )
    assert (
        operator_client.post(
            reverse("admin:workspaces_workspace_changelist"),
            {"action": "disable", "_selected_action": [workspace.pk]},
        ).status_code
        == 302
    )
    opt_out = OptOut.objects.create(workspace=workspace, phone_number="+14155552672", keyword="STOP")
    response = operator_client.post(
        reverse("admin:messaging_optout_delete", args=[opt_out.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    records = AuditRecord.objects.for_workspace(workspace).filter(actor_kind="operator")
    assert sorted(records.values_list("kind", flat=True)) == [
        "api_key.revoked",
        "opt_out.deleted",
        "workspace.disabled",
    ]
    assert {r.actor_label for r in records} == {"root@example.com"}


def test_an_operators_new_carrier_token_in_the_admin_is_never_stored_in_the_log(operator_client, workspace):
    from numbers.models import ProviderAccount

    account = ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    token = "e" * 31 + "7"
    response = operator_client.post(
        reverse("admin:numbers_provideraccount_change", args=[account.pk]),
        {
            "workspace": workspace.pk,
            "provider": "twilio",
            "account_sid": "AC" + "b" * 32,
            "messaging_service_sid": "",
            "new_auth_token": token,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    record = AuditRecord.objects.get(kind="carrier_account.updated")
    assert record.changes["new_auth_token"] == "[changed]"
    assert record.changes["provider"] == "twilio"
    assert token not in audit_rows_text()


def test_the_settings_page_lists_the_log_for_managers_only(workspace, user, member):
    browser = Client()
    browser.force_login(user)
    page = browser.get(reverse("audit-log", kwargs={"ws": workspace.pk}))
    assert page.status_code == 200
    assert "workspace.created" in page.content.decode()
    assert "Audit log" in browser.get(reverse("ws-settings", kwargs={"ws": workspace.pk})).content.decode()
    browser.force_login(member)
    assert browser.get(reverse("audit-log", kwargs={"ws": workspace.pk})).status_code == 403


def test_the_actor_is_the_api_key_the_user_the_operator_or_the_system(workspace, api_key, user):
    factory = RequestFactory()
    request = factory.post("/api/numbers/x")
    request.user, request.auth = AnonymousUser(), api_key.api_key
    assert actor_from_request(request).kind == "api_key"
    with serving(request):
        record = audit_record(workspace, "workspace.renamed", workspace, name="x")
    assert (record.actor_kind, record.actor_api_key) == ("api_key", api_key.api_key)
    assert record.actor_label == f"Test key ({api_key.api_key.prefix}…)"
    admin_request = factory.post("/admin/workspaces/workspace/")
    admin_request.user = user
    assert actor_from_request(admin_request).kind == "operator"
    # Outside any request (a task, a command): the system.
    assert audit_record(workspace, "workspace.renamed", workspace).actor_kind == "system"


def test_secret_fields_given_by_any_name_are_never_stored(workspace):
    record = audit_record(
        workspace,
        "carrier_account.set",
        None,
        auth_token="tok-123",
        password="hunter2",
        api_key="mp_live_x",
        key="mp_live_y",
        client_secret="s3",
        token_hash="abc",
        account_sid="AC1",
    )
    assert record.changes == {
        "auth_token": "[changed]",
        "password": "[changed]",
        "api_key": "[changed]",
        "key": "[changed]",
        "client_secret": "[changed]",
        "token_hash": "[changed]",
        "account_sid": "AC1",
    }
    text = audit_rows_text()
    assert not any(value in text for value in ("tok-123", "hunter2", "mp_live_x", "mp_live_y"))


def test_unknown_kinds_are_a_programming_error(workspace):
    with pytest.raises(ValueError):
        audit_record(workspace, "nothing.happened")
    assert not AuditRecord.objects.filter(kind="nothing.happened").exists()
