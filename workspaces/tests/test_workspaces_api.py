import re

import pytest

from conftest import assert_error, client_for
from workspaces.models import Membership, Role, Workspace

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def url(workspace_id: str = "", suffix: str = "") -> str:
    return "/api/ui/workspaces" + (f"/{workspace_id}" if workspace_id else "") + suffix


def test_creating_a_workspace_makes_the_creator_its_owner(owner_client, user):
    response = owner_client.post(url(), {"name": "Globex"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "role", "created_at", "account_sid", "timezone"}
    assert body["timezone"] == "UTC"
    assert re.fullmatch(r"AC[0-9a-f]{32}", body["account_sid"])
    assert body["id"].startswith("ws_")
    assert body["name"] == "Globex"
    assert body["role"] == "owner"
    assert ISO_UTC.match(body["created_at"])
    assert Membership.objects.get(workspace_id=body["id"]).user == user


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "missing_params"),
        ({"name": ""}, "invalid_params"),
        ({"name": "x" * 101}, "invalid_params"),
        ({"name": ["Globex"]}, "invalid_params"),
        ({"name": {"a": 1}}, "invalid_params"),
    ],
)
def test_it_rejects_a_bad_workspace_name_and_creates_nothing(owner_client, body, code):
    before = Workspace.objects.count()
    answer = assert_error(owner_client.post(url(), body, format="json"), 400, code)
    assert "name" in answer["fields"]
    assert Workspace.objects.count() == before


def test_a_missing_name_lists_the_field_as_missing(owner_client):
    body = assert_error(owner_client.post(url(), {}, format="json"), 400, "missing_params")
    assert body["fields"] == {"name": ["This field is required."]}


def test_the_list_holds_only_my_workspaces_in_the_pagination_envelope(
    owner_client, workspace, other_workspace
):
    response = owner_client.get(url())
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": workspace.id,
                "name": "Acme",
                "role": "owner",
                "created_at": response.json()["data"][0]["created_at"],
                "account_sid": workspace.account_sid,
                "timezone": "UTC",
            }
        ],
        "pagination": {"currentPage": 1, "totalPages": 1, "totalItems": 1, "hasNext": False},
    }


def test_the_list_pages_through_many_workspaces(owner_client):
    for n in range(5):
        owner_client.post(url(), {"name": f"W{n}"}, format="json")
    response = owner_client.get(url(), {"page": 2, "limit": 2})
    assert response.json()["pagination"] == {
        "currentPage": 2,
        "totalPages": 3,
        "totalItems": 6,
        "hasNext": True,
    }
    assert [w["name"] for w in response.json()["data"]] == ["W1", "W2"]


def test_a_member_reads_a_workspace_with_their_role(member_client, workspace):
    response = member_client.get(url(workspace.id))
    assert response.status_code == 200
    assert response.json()["role"] == "member"
    assert response.json()["id"] == workspace.id


@pytest.mark.parametrize("who", ["user", "admin_user"])
def test_owners_and_admins_can_rename_a_workspace(request, workspace, who):
    client = client_for(request.getfixturevalue(who))
    response = client.patch(url(workspace.id), {"name": "Acme 2"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Acme 2"
    workspace.refresh_from_db()
    assert workspace.name == "Acme 2"


def test_a_member_cannot_rename_a_workspace(member_client, workspace):
    assert_error(member_client.patch(url(workspace.id), {"name": "Mine"}, format="json"), 403, "forbidden")
    workspace.refresh_from_db()
    assert workspace.name == "Acme"


def test_the_time_zone_is_set_with_patch_or_put_and_read_back(owner_client, workspace):
    response = owner_client.patch(url(workspace.id), {"timezone": "Europe/Paris"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["timezone"] == "Europe/Paris" and response.json()["name"] == "Acme"
    response = owner_client.put(
        url(workspace.id), {"name": "Acme Tokyo", "timezone": "Asia/Tokyo"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert owner_client.get(url(workspace.id)).json()["timezone"] == "Asia/Tokyo"
    workspace.refresh_from_db()
    assert (workspace.name, workspace.timezone) == ("Acme Tokyo", "Asia/Tokyo")


@pytest.mark.parametrize(
    "method, body, code",
    [
        ("patch", {"timezone": "Mars/Olympus_Mons"}, "invalid_params"),
        ("patch", {"timezone": "europe/paris"}, "invalid_params"),
        ("patch", {"timezone": ""}, "invalid_params"),
        ("patch", {"timezone": 3}, "invalid_params"),
        ("patch", {"timezone": "Europe/Paris", "name": ""}, "invalid_params"),
        ("patch", {}, "missing_params"),
        ("put", {"timezone": "Europe/Paris"}, "missing_params"),
        ("put", {"name": "Acme 2", "timezone": "../../etc/passwd"}, "invalid_params"),
    ],
)
def test_it_refuses_a_time_zone_that_is_not_an_iana_name_and_changes_nothing(
    owner_client, workspace, method, body, code
):
    answer = assert_error(getattr(owner_client, method)(url(workspace.id), body, format="json"), 400, code)
    assert answer["fields"]
    workspace.refresh_from_db()
    assert (workspace.name, workspace.timezone) == ("Acme", "UTC")


def test_a_member_cannot_set_the_time_zone(member_client, workspace):
    assert_error(
        member_client.patch(url(workspace.id), {"timezone": "Europe/Paris"}, format="json"), 403, "forbidden"
    )
    workspace.refresh_from_db()
    assert workspace.timezone == "UTC"


def test_it_rejects_an_over_long_rename(owner_client, workspace):
    assert_error(
        owner_client.patch(url(workspace.id), {"name": "x" * 101}, format="json"), 400, "invalid_params"
    )
    workspace.refresh_from_db()
    assert workspace.name == "Acme"


@pytest.mark.parametrize("who", ["member", "admin_user"])
def test_only_an_owner_can_delete_a_workspace(request, workspace, who):
    client = client_for(request.getfixturevalue(who))
    assert_error(client.delete(url(workspace.id)), 403, "forbidden")
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_an_owner_deletes_a_workspace(owner_client, workspace):
    assert owner_client.delete(url(workspace.id)).status_code == 204
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert_error(owner_client.get(url(workspace.id)), 404, "not_found")


def test_a_missing_workspace_is_a_404(owner_client, workspace):
    assert_error(owner_client.get(url("ws_doesnotexist")), 404, "not_found")


def test_a_disabled_workspace_is_hidden_from_its_members(owner_client, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(is_active=False)
    assert_error(owner_client.get(url(workspace.id)), 404, "not_found")
    assert owner_client.get(url()).json()["data"] == []


def test_me_lists_my_workspaces_with_my_roles(member, workspace, other_workspace):
    Membership.objects.create(workspace=other_workspace, user=member, role=Role.ADMIN)
    response = client_for(member).get("/api/auth/me")
    assert response.status_code == 200
    roles = {w["id"]: w["role"] for w in response.json()["workspaces"]}
    assert roles == {workspace.id: "member", other_workspace.id: "admin"}
    assert set(response.json()["workspaces"][0]) == {"id", "name", "role", "created_at"}
