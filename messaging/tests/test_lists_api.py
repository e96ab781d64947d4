from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Conversation, Message, OptOut

pytestmark = pytest.mark.django_db

US = "+12015550123"
THEM = "+14155552671"
ELSE = "+14155552672"


def make(
    workspace,
    *,
    direction="outbound",
    status="delivered",
    to=THEM,
    from_=US,
    body="hi",
    conversation=None,
    age_days=0,
):
    message = Message.objects.create(
        workspace=workspace,
        direction=direction,
        status=status,
        to_number=to,
        from_number=from_,
        body=body,
        conversation=conversation,
    )
    if age_days:
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return message


@pytest.fixture
def messages(workspace, other_workspace):
    conversation = Conversation.objects.create(workspace=workspace, our_number=US, contact_number=THEM)
    made = [
        make(workspace, body="oldest order", age_days=10, conversation=conversation),
        make(workspace, status="failed", to=ELSE, body="failed one", age_days=5),
        make(
            workspace,
            direction="inbound",
            status="received",
            to=US,
            from_=THEM,
            body="Where is my ORDER?",
            conversation=conversation,
            age_days=1,
        ),
        make(workspace, body="newest"),
    ]
    make(other_workspace, body="secret order of another workspace")
    return made


def ids(response) -> list[str]:
    return [m["id"] for m in response.json()["data"]]


def ui_list(client, workspace, **params):
    return client.get(f"/api/ui/workspaces/{workspace.id}/messages", params)


def test_the_ui_list_answers_the_documented_envelope_newest_first(owner_client, workspace, messages):
    response = ui_list(owner_client, workspace, limit=2)
    assert response.status_code == 200
    body = response.json()
    assert ids(response) == [messages[3].id, messages[2].id]
    assert body["messages"] == body["data"]
    assert body["pagination"] == {
        "currentPage": 1,
        "totalPages": 2,
        "totalItems": 4,
        "totalMessages": 4,
        "hasNext": True,
    }


def test_members_can_read_the_list_and_outsiders_cannot(member_client, outsider_client, workspace, messages):
    assert ui_list(member_client, workspace).status_code == 200
    outsider = ui_list(outsider_client, workspace)
    assert outsider.status_code == 404
    assert outsider.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"direction": "inbound"}, [2]),
        ({"status": "failed"}, [1]),
        ({"to": ELSE}, [1]),
        ({"from": THEM}, [2]),
        ({"search": "order"}, [2, 0]),
        ({"startDate": "__3_days_ago__"}, [3, 2]),
        ({"endDate": "__3_days_ago__"}, [1, 0]),
    ],
)
def test_filters_narrow_the_list(owner_client, workspace, messages, params, expected):
    three_days_ago = (timezone.now() - timedelta(days=3)).isoformat()
    params = {k: three_days_ago if v == "__3_days_ago__" else v for k, v in params.items()}
    response = ui_list(owner_client, workspace, **params)
    assert response.status_code == 200, response.json()
    assert ids(response) == [messages[i].id for i in expected]


def test_a_conversation_filter_shows_its_thread(owner_client, workspace, messages):
    conversation = messages[0].conversation
    response = ui_list(owner_client, workspace, conversation=conversation.id)
    assert ids(response) == [messages[2].id, messages[0].id]


def test_a_date_only_end_date_includes_that_whole_day(owner_client, workspace, messages):
    today = timezone.now().date().isoformat()
    assert len(ids(ui_list(owner_client, workspace, endDate=today))) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"direction": "sideways"},
        {"status": "lost"},
        {"startDate": "last tuesday"},
        {"endDate": "2024-13-45"},
        {"to": "not a number"},
        {"limit": "101"},
        {"limit": "x"},
        {"page": "0"},
        {"search": "x" * 201},
    ],
)
def test_bad_filters_are_a_400_in_the_error_format(owner_client, workspace, messages, params):
    response = ui_list(owner_client, workspace, **params)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_params", "invalid_phone_number")


def test_a_page_past_the_end_is_empty(owner_client, workspace, messages):
    response = ui_list(owner_client, workspace, page=9)
    assert response.status_code == 200
    assert response.json()["data"] == []
    assert response.json()["pagination"]["hasNext"] is False


def test_the_integrator_list_is_scoped_to_the_keys_workspace(api_client, other_api_client, messages):
    mine = api_client.get("/api/messages")
    assert ids(mine) == [m.id for m in reversed(messages)]
    assert "messages" not in mine.json()
    theirs = other_api_client.get("/api/messages")
    assert [m["body"] for m in theirs.json()["data"]] == ["secret order of another workspace"]


def test_updated_since_catches_up_on_changes(api_client, messages):
    since = timezone.now().isoformat()
    Message.objects.filter(pk=messages[1].pk).update(
        status="undelivered", updated_at=timezone.now() + timedelta(seconds=1)
    )
    response = api_client.get("/api/messages", {"updated_since": since})
    assert ids(response) == [messages[1].id]


def test_conversations_list_last_message_and_unread_and_can_be_marked_read(
    owner_client, workspace, messages, outsider_client
):
    conversation = messages[0].conversation
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message=messages[2], last_message_at=messages[2].created_at, unread_count=1
    )
    url = f"/api/ui/workspaces/{workspace.id}/conversations"
    listed = owner_client.get(url).json()["data"]
    assert [(c["id"], c["unread_count"], c["last_message"]["id"]) for c in listed] == [
        (conversation.id, 1, messages[2].id)
    ]
    read = owner_client.post(f"{url}/{conversation.id}/read")
    assert read.status_code == 200
    assert read.json()["unread_count"] == 0
    assert outsider_client.post(f"{url}/{conversation.id}/read").status_code == 404


def test_the_opt_out_list_shows_this_workspaces_opt_outs(owner_client, workspace, other_workspace):
    OptOut.objects.create(workspace=workspace, phone_number=THEM, keyword="STOP")
    OptOut.objects.create(workspace=other_workspace, phone_number=ELSE, keyword="STOP")
    response = owner_client.get(f"/api/ui/workspaces/{workspace.id}/opt-outs")
    assert [o["phone_number"] for o in response.json()["data"]] == [THEM]
