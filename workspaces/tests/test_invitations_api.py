import re
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import assert_error, client_for
from workspaces.models import Invitation, Membership

pytestmark = pytest.mark.django_db

ACCEPT = "/api/ui/invitations/accept"


def invitations_url(workspace, invitation_id: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.id}/invitations" + (f"/{invitation_id}" if invitation_id else "")


def invite(client, workspace, email="guest@example.com", role="member", **extra):
    return client.post(invitations_url(workspace), {"email": email, "role": role}, format="json", **extra)


def token_from(message) -> str:
    tokens = re.findall(r"mp_inv_[A-Za-z0-9_\-]+", message.body)
    assert len(set(tokens)) == 1
    return tokens[0]


@pytest.fixture
def guest(make_user):
    return make_user("guest@example.com", name="Gus Guest")


@pytest.mark.parametrize("who", ["user", "admin_user"])
def test_owners_and_admins_invite_by_email(
    request, workspace, who, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(request.getfixturevalue(who))
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(client, workspace, email="Guest@Example.com", role="admin")
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("inv_")
    assert body["email"] == "guest@example.com"
    assert body["role"] == "admin"
    assert body["status"] == "pending"
    assert "token" not in body and "token_hash" not in body
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["guest@example.com"]
    assert "Acme" in mailoutbox[0].subject
    token_from(mailoutbox[0])


def test_the_invitation_token_is_stored_only_as_a_hash(
    owner_client, workspace, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, workspace)
    token = token_from(mailoutbox[0])
    assert token not in str(list(Invitation.objects.values_list()))


def test_a_member_cannot_invite(member_client, workspace, mailoutbox):
    assert_error(invite(member_client, workspace), 403, "forbidden")
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_an_admin_cannot_invite_an_owner(admin_user, workspace):
    assert_error(invite(client_for(admin_user), workspace, role="owner"), 403, "forbidden")
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "missing_params"),
        ({"email": "not-an-email"}, "invalid_params"),
        ({"email": "a" * 250 + "@example.com"}, "invalid_params"),
        ({"email": "guest@example.com", "role": "king"}, "invalid_params"),
        ({"email": ["guest@example.com"]}, "invalid_params"),
    ],
)
def test_it_rejects_bad_invitations(owner_client, workspace, body, code, mailoutbox):
    assert_error(owner_client.post(invitations_url(workspace), body, format="json"), 400, code)
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_a_conflict(owner_client, workspace, member):
    assert_error(invite(owner_client, workspace, email=member.email), 409, "already_member")


def test_the_invited_person_accepts_and_joins_with_the_role(
    owner_client, workspace, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, workspace, role="admin")
    response = client_for(guest).post(ACCEPT, {"token": token_from(mailoutbox[0])}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == workspace.id
    assert response.json()["role"] == "admin"
    assert Membership.objects.get(workspace=workspace, user=guest).role == "admin"
    listed = owner_client.get(invitations_url(workspace)).json()["data"]
    assert listed[0]["status"] == "accepted"


def test_a_token_works_only_once(
    owner_client, workspace, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, workspace)
    token = token_from(mailoutbox[0])
    client = client_for(guest)
    assert client.post(ACCEPT, {"token": token}, format="json").status_code == 200
    Membership.objects.filter(user=guest).delete()
    assert_error(client.post(ACCEPT, {"token": token}, format="json"), 404, "not_found")
    assert not Membership.objects.filter(user=guest).exists()


def test_another_email_accepting_is_answered_like_an_unknown_token(
    owner_client, workspace, outsider, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, workspace)
    client = client_for(outsider)
    response = client.post(ACCEPT, {"token": token_from(mailoutbox[0])}, format="json")
    unknown = client.post(ACCEPT, {"token": "mp_inv_made-up"}, format="json")
    # Nothing tells the holder of someone else's token that it is live.
    assert assert_error(response, 404, "not_found") == assert_error(unknown, 404, "not_found")
    assert response.content == unknown.content
    assert not Membership.objects.filter(user=outsider, workspace=workspace).exists()
    assert Invitation.objects.get().status == "pending"


def test_an_expired_invitation_cannot_be_accepted(
    owner_client, workspace, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, workspace)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(guest).post(ACCEPT, {"token": token_from(mailoutbox[0])}, format="json")
    assert_error(response, 404, "not_found")
    assert not Membership.objects.filter(user=guest).exists()


def test_a_revoked_invitation_cannot_be_accepted(
    owner_client, workspace, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation_id = invite(owner_client, workspace).json()["id"]
    assert owner_client.delete(invitations_url(workspace, invitation_id)).status_code == 204
    response = client_for(guest).post(ACCEPT, {"token": token_from(mailoutbox[0])}, format="json")
    assert_error(response, 404, "not_found")
    assert not Membership.objects.filter(user=guest).exists()
    assert owner_client.get(invitations_url(workspace)).json()["data"] == []


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"token": "mp_inv_made-up"}, 404, "not_found"),
        ({"token": ""}, 400, "invalid_params"),
        ({"token": "x" * 201}, 400, "invalid_params"),
        ({}, 400, "missing_params"),
    ],
)
def test_it_rejects_unknown_or_malformed_tokens(guest, body, status, code):
    assert_error(client_for(guest).post(ACCEPT, body, format="json"), status, code)


def test_a_member_cannot_revoke_an_invitation(owner_client, member_client, workspace):
    invitation_id = invite(owner_client, workspace).json()["id"]
    assert_error(member_client.delete(invitations_url(workspace, invitation_id)), 403, "forbidden")
    assert Invitation.objects.filter(pk=invitation_id).exists()


def test_revoking_an_unknown_invitation_is_a_404(owner_client, workspace):
    assert_error(owner_client.delete(invitations_url(workspace, "inv_nope")), 404, "not_found")


def test_the_list_shows_invitations_without_their_tokens(owner_client, workspace, user):
    invite(owner_client, workspace, email="a@example.com")
    invite(owner_client, workspace, email="b@example.com")
    body = owner_client.get(invitations_url(workspace)).json()
    assert body["pagination"]["totalItems"] == 2
    assert {i["email"] for i in body["data"]} == {"a@example.com", "b@example.com"}
    assert set(body["data"][0]) == {"id", "email", "role", "status", "invited_by", "created_at", "expires_at"}
    assert body["data"][0]["invited_by"] == user.email
