import pytest

from conftest import assert_error, client_for
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def members_url(workspace, user_id: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.id}/members" + (f"/{user_id}" if user_id else "")


def role_of(workspace, person) -> str | None:
    membership = Membership.objects.filter(workspace=workspace, user=person).first()
    return membership.role if membership else None


def test_a_member_lists_the_members_with_their_roles(member_client, workspace, user, member):
    response = member_client.get(members_url(workspace))
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"]["totalItems"] == 2
    assert {(m["id"], m["email"], m["role"]) for m in body["data"]} == {
        (user.id, user.email, "owner"),
        (member.id, member.email, "member"),
    }
    assert set(body["data"][0]) == {"id", "email", "name", "role", "joined_at"}


def test_an_owner_promotes_a_member_to_admin(owner_client, workspace, member):
    response = owner_client.patch(members_url(workspace, member.id), {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert role_of(workspace, member) == "admin"


def test_an_owner_can_make_another_owner_who_can_then_demote_the_first(owner_client, workspace, user, member):
    owner_client.patch(members_url(workspace, member.id), {"role": "owner"}, format="json")
    response = client_for(member).patch(members_url(workspace, user.id), {"role": "member"}, format="json")
    assert response.status_code == 200
    assert role_of(workspace, user) == "member"


@pytest.mark.parametrize("role", ["superuser", "", None, 3])
def test_it_rejects_an_unknown_role(owner_client, workspace, member, role):
    assert_error(
        owner_client.patch(members_url(workspace, member.id), {"role": role}, format="json"),
        400,
        "invalid_params",
    )
    assert role_of(workspace, member) == "member"


def test_it_needs_a_role_to_change_one(owner_client, workspace, member):
    assert_error(
        owner_client.patch(members_url(workspace, member.id), {}, format="json"), 400, "missing_params"
    )


def test_a_member_cannot_change_roles(member_client, workspace, member, admin_user):
    assert_error(
        member_client.patch(members_url(workspace, member.id), {"role": "admin"}, format="json"),
        403,
        "forbidden",
    )
    assert_error(
        member_client.patch(members_url(workspace, admin_user.id), {"role": "member"}, format="json"),
        403,
        "forbidden",
    )
    assert role_of(workspace, member) == "member"
    assert role_of(workspace, admin_user) == "admin"


def test_a_member_cannot_remove_anyone(member_client, workspace, admin_user):
    assert_error(member_client.delete(members_url(workspace, admin_user.id)), 403, "forbidden")
    assert role_of(workspace, admin_user) == "admin"


def test_an_admin_cannot_grant_the_owner_role(admin_user, workspace, member):
    client = client_for(admin_user)
    assert_error(
        client.patch(members_url(workspace, member.id), {"role": "owner"}, format="json"), 403, "forbidden"
    )
    assert_error(
        client.patch(members_url(workspace, admin_user.id), {"role": "owner"}, format="json"),
        403,
        "forbidden",
    )
    assert role_of(workspace, member) == "member"
    assert role_of(workspace, admin_user) == "admin"


def test_an_admin_cannot_demote_or_remove_an_owner(admin_user, workspace, user):
    client = client_for(admin_user)
    assert_error(
        client.patch(members_url(workspace, user.id), {"role": "member"}, format="json"), 403, "forbidden"
    )
    assert_error(client.delete(members_url(workspace, user.id)), 403, "forbidden")
    assert role_of(workspace, user) == "owner"


def test_an_admin_manages_members(admin_user, workspace, member):
    client = client_for(admin_user)
    assert (
        client.patch(members_url(workspace, member.id), {"role": "admin"}, format="json").status_code == 200
    )
    assert client.delete(members_url(workspace, member.id)).status_code == 204
    assert role_of(workspace, member) is None


def test_an_owner_removes_a_member_who_then_loses_access(owner_client, workspace, member):
    assert owner_client.delete(members_url(workspace, member.id)).status_code == 204
    assert role_of(workspace, member) is None
    assert_error(client_for(member).get(f"/api/ui/workspaces/{workspace.id}"), 404, "not_found")


def test_a_member_can_leave(member_client, workspace, member):
    assert member_client.delete(members_url(workspace, member.id)).status_code == 204
    assert role_of(workspace, member) is None


def test_the_last_owner_cannot_leave(owner_client, workspace, user):
    assert_error(owner_client.delete(members_url(workspace, user.id)), 409, "last_owner")
    assert role_of(workspace, user) == "owner"


def test_the_last_owner_cannot_be_demoted(owner_client, workspace, user):
    assert_error(
        owner_client.patch(members_url(workspace, user.id), {"role": "admin"}, format="json"),
        409,
        "last_owner",
    )
    assert role_of(workspace, user) == "owner"


def test_an_owner_can_leave_when_another_owner_remains(owner_client, workspace, user, member):
    Membership.objects.filter(user=member).update(role=Role.OWNER)
    assert owner_client.delete(members_url(workspace, user.id)).status_code == 204
    assert role_of(workspace, user) is None


def test_an_unknown_member_is_a_404(owner_client, workspace, outsider):
    assert_error(owner_client.delete(members_url(workspace, outsider.id)), 404, "not_found")
    assert_error(
        owner_client.patch(members_url(workspace, "usr_nobody"), {"role": "admin"}, format="json"),
        404,
        "not_found",
    )
