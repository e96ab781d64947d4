import pytest

from conftest import assert_error
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowded_workspace(workspace, make_user):
    """Acme with 120 members (the owner and 119 more)."""
    for n in range(119):
        Membership.objects.create(
            workspace=workspace, user=make_user(f"m{n:03}@example.com"), role=Role.MEMBER
        )
    return workspace


def members(client, workspace, **params):
    return client.get(f"/api/ui/workspaces/{workspace.id}/members", params)


def test_a_list_answers_50_items_of_page_1_by_default(owner_client, crowded_workspace):
    body = members(owner_client, crowded_workspace).json()
    assert len(body["data"]) == 50
    assert body["pagination"] == {"currentPage": 1, "totalPages": 3, "totalItems": 120, "hasNext": True}


def test_limit_and_page_pick_a_slice_without_overlap(owner_client, crowded_workspace):
    first = members(owner_client, crowded_workspace, page=1, limit=7).json()["data"]
    second = members(owner_client, crowded_workspace, page=2, limit=7).json()["data"]
    assert len(first) == len(second) == 7
    assert not {m["id"] for m in first} & {m["id"] for m in second}


def test_limit_goes_up_to_100(owner_client, crowded_workspace):
    body = members(owner_client, crowded_workspace, limit=100, page=2).json()
    assert len(body["data"]) == 20
    assert body["pagination"] == {"currentPage": 2, "totalPages": 2, "totalItems": 120, "hasNext": False}


def test_a_page_past_the_end_is_empty(owner_client, crowded_workspace):
    response = members(owner_client, crowded_workspace, page=9, limit=100)
    assert response.status_code == 200
    assert response.json() == {
        "data": [],
        "pagination": {"currentPage": 9, "totalPages": 2, "totalItems": 120, "hasNext": False},
    }


def test_an_empty_list_has_zero_pages(owner_client, workspace):
    body = owner_client.get(f"/api/ui/workspaces/{workspace.id}/invitations").json()
    assert body == {
        "data": [],
        "pagination": {"currentPage": 1, "totalPages": 0, "totalItems": 0, "hasNext": False},
    }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": -5},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"page": 0},
        {"page": -1},
        {"page": "two"},
        {"page": "1e3"},
        {"page": 10**12},
        {"limit": "9" * 50},
    ],
)
def test_it_rejects_a_non_numeric_or_out_of_range_page_or_limit(owner_client, workspace, params):
    body = assert_error(members(owner_client, workspace, **params), 400, "invalid_params")
    assert set(body["fields"]) == set(params)
